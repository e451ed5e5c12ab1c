"""Running a batch's jobs: as processes on this machine, or as tasks on a Ray cluster."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..interrupt import sigterm_as_interrupt
from ..io import InputError
from .manifest import Job, State

__all__ = ["BAD_INPUT", "gpu_ids", "run_local", "run_ray"]

#: Exit codes of ``gdd`` that another attempt cannot change: bad input (1) and bad usage (2).
BAD_INPUT = frozenset({1, 2})


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
                if code in BAD_INPUT:
                    failed.append(job)
                    on_event("failed", job, f"{reason} (bad input or usage: not tried again)")
                elif job.attempts <= retries:
                    pending.append(job)
                    on_event("retry", job, reason)
                else:
                    failed.append(job)
                    on_event("failed", job, reason)
    finally:  # each job gets SIGTERM first, to remove its half-written files, then SIGKILL if it hangs
        for proc, _, _, _ in running.values():
            proc.terminate()
        for proc, _, _, log in running.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    return failed


def _run_attempt(argv: list[str]) -> dict[str, Any]:  # pragma: no cover - runs on a Ray worker
    """One attempt of a job on a Ray worker: its exit code, output and time (the worker's own Python)."""
    start = time.perf_counter()
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    done = subprocess.run(
        [sys.executable, "-m", "gdd", *argv], capture_output=True, text=True, preexec_fn=preexec
    )  # fmt: skip
    return {"code": done.returncode, "output": done.stdout + done.stderr, "seconds": time.perf_counter() - start}


def run_ray(
    jobs: Sequence[Job],
    state: State,
    *,
    address: str = "auto",
    gpus: float | None = None,
    cpus: float = 1.0,
    retries: int = 2,
    init: dict[str, Any] | None = None,
    on_event: Callable[[str, Job, str], None] = lambda kind, job, text: None,
) -> list[Job]:
    """Run ``jobs`` as Ray tasks (``gpus``/``cpus`` each); the jobs that failed.

    ``address``: ``"auto"`` (a running cluster), ``"local"`` (start one here) or ``ray://...`` /
    ``HOST:PORT``. ``init``: more ``ray.init`` options (e.g. ``num_cpus`` for a local cluster).
    ``gpus``: GPUs per job; None asks the cluster (:func:`ray.cluster_resources`): 1 when it has
    any GPU, else 0 (the submitting host's own devices say nothing about the cluster's).

    A job whose worker is lost is run again by Ray; a job that exits non-zero is submitted
    again, up to ``retries`` more times, unless it exited 1 or 2 (bad input or usage, which
    another attempt cannot change). Each attempt's output is appended to the job's log in the
    batch's state folder (``--- attempt N`` headers). Ctrl-C or SIGTERM cancels every task still
    submitted (their ``gdd`` processes die with their worker) before the batch ends.
    """
    try:
        import ray
    except ImportError:
        raise InputError("gdd batch --ray needs Ray: pip install 'gdd[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "local" else address, **(init or {}))
    refs: dict[Any, Job] = {}
    failed: list[Job] = []
    try:
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        run_job = ray.remote(max_retries=retries, retry_exceptions=False)(_run_attempt)

        def submit(job: Job) -> None:
            job.attempts += 1
            refs[run_job.options(num_gpus=gpus, num_cpus=cpus).remote(_job_argv(job))] = job

        for job in jobs:
            job.attempts = 0
            submit(job)
            on_event("start", job, "")
        with sigterm_as_interrupt():
            try:
                while refs:
                    ready, _ = ray.wait(list(refs), num_returns=1)
                    job = refs.pop(ready[0])
                    try:
                        result = ray.get(ready[0])
                    except Exception as exc:  # the task itself failed (its worker lost too often)
                        text = str(exc).strip()
                        result = {"code": None, "output": text or type(exc).__name__, "seconds": 0.0}
                    with open(state.log(job), "a") as log:
                        log.write(f"--- attempt {job.attempts} (Ray): gdd {' '.join(_job_argv(job))}\n")
                        log.write(result["output"] if result["output"].endswith("\n") else result["output"] + "\n")
                    if result["code"] == 0:
                        state.mark(job, result["seconds"])
                        on_event("done", job, "")
                        continue
                    reason = _last_line(state.log(job)) or f"exit {result['code']}"
                    job.errors.append(reason)
                    if result["code"] in BAD_INPUT:
                        failed.append(job)
                        on_event("failed", job, f"{reason} (bad input or usage: not tried again)")
                    elif job.attempts <= retries:
                        submit(job)
                        on_event("retry", job, reason)
                    else:
                        failed.append(job)
                        on_event("failed", job, reason)
            except KeyboardInterrupt:
                for ref in refs:
                    with contextlib.suppress(Exception):
                        ray.cancel(ref, force=True)
                raise
    finally:
        if started:
            ray.shutdown()
    return failed


def gpu_ids(text: str) -> list[str]:
    if text == "none":
        return []
    if text == "auto":
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids or not all(t.isdigit() for t in ids):
        raise InputError(f"--gpus: expected auto, none or GPU ids like 0,1, got {text!r}")
    return ids
