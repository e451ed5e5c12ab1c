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

import importlib.util
import os
import sys
import time
from pathlib import Path

from ..io import InputError
from ..progress import ProgressBar
from .manifest import PATH_OPTIONS, TASKS, Job, State, read_manifest, state_folder
from .runners import gpu_ids, run_local, run_ray

__all__ = [
    "PATH_OPTIONS", "TASKS", "Job", "State", "read_manifest", "run_batch", "run_local", "run_ray", "state_folder"
]  # fmt: skip


def run_batch(
    manifest: str | os.PathLike[str],
    *,
    workers: int | None = None,
    gpus: str = "auto",
    retries: int = 2,
    ray: str | None = None,
    ray_gpus: float | None = None,
    ray_cpus: float = 1.0,
    force: bool = False,
    dry_run: bool = False,
    quiet: bool = False,
    shard: tuple[int, int] | None = None,
) -> int:
    """``gdd batch MANIFEST``: the jobs not done yet, with a progress bar over jobs and tiles; the exit code.

    ``shard=(i, n)`` keeps the i-th of n shares of the manifest's jobs (1-based: jobs i, i + n,
    ... in manifest order), so that the tasks of a SLURM or PBS job array split one manifest;
    the shares are fixed by the manifest, not by what is done, so a share resumes alone.
    """
    from ..app import tile_folder

    path = Path(manifest)
    jobs = read_manifest(path)
    if ray and not dry_run and importlib.util.find_spec("ray") is None:  # before any state is kept
        raise InputError("gdd batch --ray needs Ray: pip install 'gdd[ray]'")
    if shard is not None:
        i, n = shard
        jobs = jobs[i - 1 :: n]
    state = State(state_folder(path))
    todo = [job for job in jobs if not state.done(job)]
    clash = [job for job in todo if job.out.exists()]
    if dry_run:
        for job in jobs:
            status = "done" if job not in todo else "to do"
            if job in clash:
                edited = ", made by an edited job" if state.made_otherwise(job) else ""
                status += f" (with --force: its output exists{edited})"
            elif job in todo and (tile_folder(job.out) / "plan.json").exists():
                status += " (has finished tiles: resumed, or with --force if its command changed since)"
            print(f"{job.id}\t{status}\tgdd {' '.join(job.argv)}")
        return 0
    if clash and not force:
        job = clash[0]
        why = (
            "was made by this job with another command (the manifest changed since)"
            if state.made_otherwise(job)
            else "exists but this batch has no record of making it"
        )
        raise InputError(
            f"job {job.id}: its output {job.out} {why} "
            f"({len(clash)} such job{'s' if len(clash) > 1 else ''}); remove it or use --force"
        )
    # --force: every job to do may overwrite its files and start its tiles again if they are of
    # another command (tiles of its own command are still resumed).
    for job in todo if force else ():
        job.force = True
    bar = ProgressBar(len(jobs), quiet=quiet, unit="job", initial=len(jobs) - len(todo))

    def say(kind: str, job: Job, text: str) -> None:
        if kind == "retry":
            bar.write(f"gdd batch: job {job.id} failed ({text}); trying again (attempt {job.attempts + 1})")
        elif kind == "failed":
            bar.write(f"gdd batch: job {job.id} failed after {job.attempts} attempt(s): {text}")
        elif kind == "done":
            bar.update(1)
            finished[0] += 1

    last = [0.0]
    finished = [0]

    def poll(running: list[Job]) -> None:
        if bar.bar is None or time.monotonic() - last[0] < 1:
            return
        last[0] = time.monotonic()
        tiles = sum(len(list(tile_folder(j.out).glob("tile-*.json"))) for j in running)
        bar.set_postfix(running=len(running), tiles_done=tiles)

    start = time.perf_counter()
    try:
        if ray:
            failed = run_ray(todo, state, address=ray, gpus=ray_gpus, cpus=ray_cpus, retries=retries, on_event=say)
        else:
            ids = gpu_ids(gpus)
            count = workers or (len(ids) if ids else 1)
            from ..app.memory import usable_cpus

            threads = None if ids else max(1, usable_cpus() // count)
            failed = run_local(
                todo, state, workers=count, gpus=ids, retries=retries, threads=threads, on_event=say, on_poll=poll
            )
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"{len(jobs) - len(todo) + finished[0]} of {len(jobs)} jobs done; started again, the batch goes on "
            "with the rest (an interrupted job from its finished tiles)"
        ) from None
    finally:
        bar.close()
    wall = time.perf_counter() - start
    ran = len(todo) - len(failed)
    share = f" (share {shard[0]}/{shard[1]})" if shard else ""
    print(
        f"gdd batch{share}: {len(jobs) - len(failed)} of {len(jobs)} jobs done "
        f"({ran} now, {len(jobs) - len(todo)} before) in {wall:.1f} s; {len(failed)} failed"
    )
    if failed:
        names = ", ".join(j.id for j in failed[:5]) + (" ..." if len(failed) > 5 else "")
        print(f"gdd: error: {len(failed)} job(s) failed: {names}; logs in {state.folder}", file=sys.stderr)
        return 1
    return 0
