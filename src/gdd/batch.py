"""Many fusion jobs from one manifest: on this machine (a pool of workers) or on a Ray cluster.

A manifest lists jobs, one fusion command each: ``task`` (hs, pan or flash), the command's
options by their long names (``ms``, ``pan``, ``ratio``, ``out``, ``iterations``, ``tile`` ...;
``true`` for a flag), and an optional ``id``. It is a CSV (one row a job, one column an
option, empty cells left out), a JSON list (or ``{"jobs": [...]}``) or a TOML file of
``[[jobs]]`` tables. Relative paths are relative to the manifest's folder.

Each job runs as its own ``python -m gdd`` process (so that a crash, a GPU's memory or a
killed worker touches one job only), which also resumes the job's finished tiles. A job is done
when its record is in the state folder (``.NAME.state/`` beside the manifest) and its output
exists; a run started again skips the jobs that are done. Failed jobs are tried again up to
``retries`` times. On Ray every job is a task asking for ``gpus`` GPUs (a fraction is allowed)
and ``cpus`` CPUs; Ray retries a task whose worker died, and paths (not arrays) are sent, so
inputs and outputs must be on a file system every node sees.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .io import InputError, atomic

__all__ = ["Job", "read_manifest", "run_local", "run_ray", "state_folder"]

TASKS = ("hs", "pan", "flash")
#: Options whose values are files (resolved against the manifest's folder).
PATH_OPTIONS = {"hsi", "guide", "srf", "ms", "pan", "noisy", "out", "json", "report", "reference"}
#: Values of path options that are not files.
_KEYWORDS = {"estimate"}


@dataclass
class Job:
    """One fusion command of a manifest."""

    id: str
    argv: list[str]
    out: Path
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    force: bool = False
    """Run with ``--force`` (an output that exists is overwritten)."""

    @property
    def key(self) -> str:
        """A digest of the command: a record of another command is not this job's."""
        return hashlib.sha256("\0".join(self.argv).encode()).hexdigest()[:16]


def _read_rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"manifest {path}: {exc.strerror or exc}") from None
    try:
        if suffix == ".csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            return [{k.strip(): v.strip() for k, v in r.items() if k and v is not None and v.strip()} for r in rows]
        if suffix == ".json":
            data = json.loads(text)
            data = data.get("jobs") if isinstance(data, dict) else data
        elif suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover
                import tomli as tomllib
            data = tomllib.loads(text).get("jobs")
        else:
            raise InputError(f"manifest {path}: unknown format {path.suffix!r} (use .csv, .json or .toml)")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"manifest {path}: cannot parse ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InputError(f"manifest {path}: expected a list of jobs (JSON list or 'jobs', TOML [[jobs]] tables)")
    return data


def _argv(row: dict[str, Any], base: Path, label: str) -> list[str]:
    task = str(row.get("task", "")).strip()
    if task not in TASKS:
        raise InputError(f"{label}: task must be one of {', '.join(TASKS)}, got {task!r}")
    argv = [task]
    for key, value in row.items():
        if key in ("task", "id"):
            continue
        name = key.strip().replace("_", "-")
        dest = name.replace("-", "_")
        if isinstance(value, bool) or str(value).lower() in ("true", "false"):
            on = value if isinstance(value, bool) else str(value).lower() == "true"
            if on:
                argv.append(f"--{name}")
            elif name in ("residual", "keep-best"):
                argv.append(f"--no-{name}")
            continue
        text = str(value)
        if dest in PATH_OPTIONS and text not in _KEYWORDS and not Path(text.split(":")[0]).is_absolute():
            text = str(base / text)
        argv += [f"--{name}", text]
    return argv


def read_manifest(path: str | os.PathLike[str]) -> list[Job]:
    """The jobs of a manifest, each command checked by the command line's parser.

    Raises:
        InputError: an unreadable manifest, a job with an unknown task or option, a missing
            ``out``, two jobs with the same ``id`` or output.
    """
    from .cli import build_parser

    p = Path(path)
    if not p.is_file():
        raise InputError(f"manifest {p}: file not found")
    rows = _read_rows(p)
    if not rows:
        raise InputError(f"manifest {p}: lists no jobs")
    parser = build_parser()
    jobs: list[Job] = []
    for i, row in enumerate(rows, 1):
        ident = str(row.get("id") or i)
        label = f"manifest {p.name}, job {ident}"
        if not row.get("out"):
            raise InputError(f"{label}: no 'out' (the result file)")
        argv = _argv(row, p.parent.resolve(), label)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                args = parser.parse_args(argv)
            except SystemExit:
                message = err.getvalue().strip().splitlines()[-1].removeprefix("gdd: error: ")
                raise InputError(f"{label}: {message}") from None
        jobs.append(Job(ident, argv, Path(args.out)))
    for attr in ("id", "out"):
        seen: dict[object, str] = {}
        for job in jobs:
            value = getattr(job, attr)
            if value in seen:
                raise InputError(f"manifest {p.name}: jobs {seen[value]} and {job.id} have the same {attr} {value}")
            seen[value] = job.id
    return jobs


def state_folder(manifest: str | os.PathLike[str]) -> Path:
    """Where a batch keeps its records and logs: ``.NAME.state`` beside the manifest."""
    p = Path(manifest)
    return p.with_name(f".{p.name}.state")


class State:
    """Done records and logs of a batch's jobs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _record(self, job: Job) -> Path:
        return self.folder / f"{job.id}.done.json"

    def log(self, job: Job) -> Path:
        return self.folder / f"{job.id}.log"

    def done(self, job: Job) -> bool:
        record = self._record(job)
        if not record.exists() or not job.out.exists():
            return False
        try:
            return bool(json.loads(record.read_text()).get("key") == job.key)
        except ValueError:
            return False

    def mark(self, job: Job, seconds: float) -> None:
        info = {"id": job.id, "key": job.key, "argv": job.argv, "seconds": seconds, "attempts": job.attempts}
        atomic(self._record(job), lambda t: t.write_text(json.dumps(info)))


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln for ln in lines if ln.startswith("gdd: error:")]
    return (errors or lines or [""])[-1].strip()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # A job must not outlive a killed batch (it would race the resumed one): Linux's
    # PR_SET_PDEATHSIG sends it SIGKILL when the batch process dies.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)


def _command(job: Job) -> list[str]:
    return [sys.executable, "-m", "gdd", *_job_argv(job)]


def _job_argv(job: Job) -> list[str]:
    return [*job.argv, "--quiet", *(["--force"] if job.force else [])]


def run_local(
    jobs: Sequence[Job],
    state: State,
    *,
    workers: int = 1,
    gpus: Sequence[str] = (),
    retries: int = 2,
    threads: int | None = None,
    on_event: Callable[[str, Job, str], None] = lambda kind, job, text: None,
    on_poll: Callable[[list[Job]], None] = lambda running: None,
) -> list[Job]:
    """Run ``jobs`` as processes, ``workers`` at a time (one per GPU when ``gpus`` are given).

    ``on_event(kind, job, text)`` hears ``"start"``, ``"done"``, ``"retry"`` and ``"failed"``;
    ``on_poll(running)`` is called about 20 times a second with the running jobs.
    Returns the jobs that failed after ``1 + retries`` attempts.
    """
    slots: list[dict[str, str]] = (
        [{"CUDA_VISIBLE_DEVICES": g} for g in gpus] if gpus else [{} for _ in range(max(1, workers))]
    )
    if threads is not None:
        for s in slots:
            s.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    pending = list(jobs)
    running: dict[int, tuple[subprocess.Popen[bytes], Job, float, Any]] = {}
    failed: list[Job] = []
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    try:
        while pending or running:
            for slot, env in enumerate(slots):
                if slot in running or not pending:
                    continue
                job = pending.pop(0)
                job.attempts += 1
                log = open(state.log(job), "ab")
                log.write(f"--- attempt {job.attempts}: {' '.join(_command(job))}\n".encode())
                log.flush()
                proc = subprocess.Popen(
                    _command(job), stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
                    preexec_fn=preexec,
                )  # fmt: skip
                running[slot] = (proc, job, time.perf_counter(), log)
                on_event("start", job, "")
            time.sleep(0.05)
            on_poll([job for _, job, _, _ in running.values()])
            for slot, (proc, job, start, log) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                log.close()
                del running[slot]
                if code == 0:
                    state.mark(job, time.perf_counter() - start)
                    on_event("done", job, "")
                    continue
                reason = _last_line(state.log(job)) or f"exit {code}"
                if code < 0:
                    reason = f"killed by signal {-code}"
                job.errors.append(reason)
                if job.attempts <= retries:
                    pending.append(job)
                    on_event("retry", job, reason)
                else:
                    failed.append(job)
                    on_event("failed", job, reason)
    finally:
        for proc, _, _, log in running.values():
            proc.kill()
            proc.wait()
            log.close()
    return failed


def run_ray(
    jobs: Sequence[Job],
    state: State,
    *,
    address: str = "auto",
    gpus: float = 0.0,
    cpus: float = 1.0,
    retries: int = 2,
    init: dict[str, Any] | None = None,
    on_event: Callable[[str, Job, str], None] = lambda kind, job, text: None,
) -> list[Job]:
    """Run ``jobs`` as Ray tasks (``gpus``/``cpus`` each), retried on failure or a lost worker.

    ``address``: ``"auto"`` (a running cluster), ``"local"`` (start one here) or ``ray://...`` /
    ``HOST:PORT``. ``init``: more ``ray.init`` options (e.g. ``num_cpus`` for a local cluster).
    Returns the jobs that failed after ``1 + retries`` attempts.
    """
    try:
        import ray
    except ImportError:
        raise InputError("gdd batch --ray needs Ray: pip install 'gdd[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "local" else address, **(init or {}))

    @ray.remote(max_retries=retries, retry_exceptions=True)
    def run_job(argv: list[str]) -> float:
        # The worker's own Python: a node may keep it elsewhere than this one.
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "gdd", *argv], capture_output=True, text=True)
        if done.returncode != 0:
            lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
            raise RuntimeError(lines[-1] if lines else f"exit {done.returncode}")
        return time.perf_counter() - start

    refs = {}
    for job in jobs:
        job.attempts = 1
        refs[run_job.options(num_gpus=gpus, num_cpus=cpus).remote(_job_argv(job))] = job
        on_event("start", job, "")
    failed: list[Job] = []
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            job = refs.pop(ready[0])
            try:
                seconds = ray.get(ready[0])
            except Exception as exc:
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                job.errors.append(reason)
                failed.append(job)
                on_event("failed", job, reason)
                continue
            state.mark(job, seconds)
            on_event("done", job, "")
    finally:
        if started:
            ray.shutdown()
    return failed


def _gpus(text: str) -> list[str]:
    if text == "none":
        return []
    if text == "auto":
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids or not all(t.isdigit() for t in ids):
        raise InputError(f"--gpus: expected auto, none or GPU ids like 0,1, got {text!r}")
    return ids


def run_batch(args: Any) -> int:
    """``gdd batch MANIFEST``: the jobs not done yet, with a progress bar over jobs and tiles."""
    from .tiled import tile_folder

    manifest = Path(args.manifest)
    jobs = read_manifest(manifest)
    state = State(state_folder(manifest))
    todo = [job for job in jobs if not state.done(job)]
    clash = [job for job in todo if job.out.exists()]
    if clash and not args.force:
        job = clash[0]
        raise InputError(
            f"job {job.id}: its output {job.out} exists but this batch has no record of making it "
            f"({len(clash)} such job{'s' if len(clash) > 1 else ''}); remove it or use --force"
        )
    for job in clash:
        job.force = True
    if args.dry_run:
        for job in jobs:
            print(f"{job.id}\t{'done' if job not in todo else 'to do'}\tgdd {' '.join(job.argv)}")
        return 0
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="job", file=sys.stderr, leave=False)

    def say(kind: str, job: Job, text: str) -> None:
        if kind == "retry":
            line = f"gdd batch: job {job.id} failed ({text}); trying again (attempt {job.attempts + 1})"
        elif kind == "failed":
            line = f"gdd batch: job {job.id} failed after {job.attempts} attempt(s): {text}"
        else:
            if kind == "done" and bar is not None:
                bar.update(1)
            return
        if bar is not None:
            bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    last = [0.0]

    def poll(running: list[Job]) -> None:
        if bar is None or time.monotonic() - last[0] < 1:
            return
        last[0] = time.monotonic()
        tiles = sum(len(list(tile_folder(j.out).glob("tile-*.json"))) for j in running)
        bar.set_postfix(running=len(running), tiles_done=tiles)

    start = time.perf_counter()
    try:
        if args.ray:
            import torch

            gpus = args.ray_gpus if args.ray_gpus is not None else (1.0 if torch.cuda.is_available() else 0.0)
            failed = run_ray(
                todo, state, address=args.ray, gpus=gpus, cpus=args.ray_cpus, retries=args.retries, on_event=say
            )
        else:
            gpus = _gpus(args.gpus)
            workers = args.workers or (len(gpus) if gpus else 1)
            threads = None if gpus else max(1, (os.cpu_count() or 1) // workers)
            failed = run_local(
                todo, state, workers=workers, gpus=gpus, retries=args.retries, threads=threads,
                on_event=say, on_poll=poll,
            )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - start
    ran = len(todo) - len(failed)
    print(
        f"gdd batch: {len(jobs) - len(failed)} of {len(jobs)} jobs done ({ran} now, {len(jobs) - len(todo)} before) "
        f"in {wall:.1f} s; {len(failed)} failed"
    )
    if failed:
        names = ", ".join(j.id for j in failed[:5]) + (" ..." if len(failed) > 5 else "")
        print(f"gdd: error: {len(failed)} job(s) failed: {names}; logs in {state.folder}", file=sys.stderr)
        return 1
    return 0
