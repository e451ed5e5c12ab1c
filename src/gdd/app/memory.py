"""How much memory one fit needs, and how much memory and how many cores the process may use.

The limits are those the process actually has: a cgroup's memory limit (SLURM ``--mem``, Docker,
Kubernetes) as well as the machine's free memory, and the CPU affinity mask and a cgroup's CPU
quota as well as the machine's cores. A fit that outgrows a cgroup's limit is killed by the
kernel, which no out-of-memory fallback can catch; threads beyond the cores given slow every
process that shares them.
"""

from __future__ import annotations

import math
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = [
    "available_memory",
    "cgroup_memory_left",
    "estimate_memory",
    "largest_tile",
    "peak_memory",
    "usable_cpus",
]

# Peak memory of one fit: bytes = overhead + (a + b * width) * H * W, fitted to measurements of
# this package's fits (6 steps of each task's default run on random inputs, each size and width
# in a fresh process; CPU peak resident set above the imported process, CUDA peak allocated) by
# ``python benchmarks/memory.py --fit``: through the 512 and 1024 figures at the preset's width
# and a quarter of it (benchmarks/results/memory-cpu.md). Keyed by (task, budget): (overhead,
# a, b); the width is the preset's unless given.
_MEMORY: dict[tuple[str, str], tuple[float, float, float]] = {
    ("hs", "cpu"): (5.13e8, 1236.0, 137.1),
    ("hs", "authors"): (6.31e8, 902.0, 149.1),
    ("pan", "cpu"): (2.74e8, 695.0, 152.0),
    ("pan", "authors"): (4.77e8, 701.0, 148.8),
    ("flash", "cpu"): (2.96e8, 548.0, 129.0),
    ("flash", "authors"): (2.02e8, 272.0, 150.6),
}


def estimate_memory(task: str, height: int, width: int, *, budget: str = "cpu", channels: int | None = None) -> int:
    """Bytes one fit of a ``height`` x ``width`` scene needs at its peak (an estimate).

    Linear in the number of pixels and in the network's width (``channels``, default the
    preset's), from measurements (``benchmarks/memory.py``); activations dominate and are the
    same on every device.

    Example:
        >>> estimate_memory("pan", 512, 512) > estimate_memory("pan", 256, 256)
        True
    """
    if (task, budget) not in _MEMORY:
        raise ValueError(f"no memory figures for task {task!r} at budget {budget!r}")
    from ..problems import PRESETS

    overhead, a, b = _MEMORY[(task, budget)]
    return int(overhead + (a + b * (channels or PRESETS[(task, budget)].width)) * height * width)  # type: ignore[index]


def largest_tile(
    task: str, available: float, *, budget: str = "cpu", channels: int | None = None, factor: int = 1, overlap: int = 0
) -> int:
    """The largest square tile side (a multiple of 16 and of the factor) whose fit needs at most ``available`` bytes.

    Example:
        >>> largest_tile("pan", 2**30, factor=4) % 4
        0
    """
    unit = math.lcm(16, factor)
    side = unit
    while estimate_memory(task, side + unit, side + unit, budget=budget, channels=channels) <= available:
        side += unit
    return max(side, math.lcm(unit, 2 * overlap + factor))


def available_memory(device: str = "cpu", *, proc: str = "/proc", cgroup: str = "/sys/fs/cgroup") -> int | None:
    """Bytes free for a fit on ``device`` now, or None.

    CUDA: the device's free memory. CPU: the machine's MemAvailable, or what the process's
    cgroup still allows (:func:`cgroup_memory_left`) when that is less. ``proc`` and ``cgroup``
    are where the kernel's files are read (other roots for tests).

    Example:
        >>> m = available_memory("cpu")
        >>> m is None or m > 0
        True
    """
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if device != "cpu":
        return None
    machine = _meminfo_available(proc)
    limit = cgroup_memory_left(proc=proc, cgroup=cgroup)
    known = [v for v in (machine, limit) if v is not None]
    return min(known) if known else None


def _meminfo_available(proc: str) -> int | None:
    try:
        with open(os.path.join(proc, "meminfo")) as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if proc != "/proc":
        return None
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def _cgroup_dirs(proc: str, cgroup: str, controller: str) -> list[str]:
    """The folders of the process's cgroup for ``controller``, innermost first (v2, then v1)."""
    text = _read(os.path.join(proc, "self", "cgroup")) or ""
    dirs: list[str] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        path = path.lstrip("/")
        if controllers == "":  # cgroup v2: one unified hierarchy
            base = cgroup
        elif controller in controllers.split(","):  # cgroup v1: a hierarchy per controller
            base = os.path.join(cgroup, controllers)
            if not os.path.isdir(base):
                base = os.path.join(cgroup, controller)
        else:
            continue
        # Walk up from the process's own cgroup: a limit set on a parent holds too.
        while True:
            dirs.append(os.path.join(base, path) if path else base)
            if not path:
                break
            path = os.path.dirname(path)
    if not dirs:  # no /proc/self/cgroup: the root of each layout
        dirs = [cgroup, os.path.join(cgroup, controller)]
    return dirs


def cgroup_memory_left(*, proc: str = "/proc", cgroup: str = "/sys/fs/cgroup") -> int | None:
    """Bytes the process's cgroup still allows (its tightest limit less its usage), or None without a limit.

    cgroup v2 (``memory.max``, ``memory.current``) and v1 (``memory.limit_in_bytes``,
    ``memory.usage_in_bytes``); a v1 "no limit" is a huge number and counts as none.

    Example:
        >>> cgroup_memory_left(proc="/nonexistent", cgroup="/nonexistent") is None
        True
    """
    left: int | None = None
    for folder in _cgroup_dirs(proc, cgroup, "memory"):
        for limit_name, usage_name in (
            ("memory.max", "memory.current"),
            ("memory.limit_in_bytes", "memory.usage_in_bytes"),
        ):
            limit = _read(os.path.join(folder, limit_name))
            if limit is None or limit == "max" or not limit.isdigit() or int(limit) >= 2**60:
                continue
            usage = _read(os.path.join(folder, usage_name))
            free = int(limit) - (int(usage) if usage and usage.isdigit() else 0)
            left = free if left is None else min(left, free)
    return None if left is None else max(left, 0)


def usable_cpus(*, proc: str = "/proc", cgroup: str = "/sys/fs/cgroup") -> int:
    """How many cores the process may use: its CPU affinity, and a cgroup's CPU quota when lower.

    ``os.cpu_count()`` counts the machine's cores; a SLURM or container job is usually given
    fewer (an affinity mask, or a quota: ``cpu.max`` in cgroup v2, ``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us`` in v1, rounded up).

    Example:
        >>> usable_cpus() >= 1
        True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    for folder in _cgroup_dirs(proc, cgroup, "cpu"):
        quota = period = None
        text = _read(os.path.join(folder, "cpu.max"))
        if text:
            fields = text.split()
            if len(fields) == 2 and fields[0] != "max":
                quota, period = fields
        else:
            quota, period = (
                _read(os.path.join(folder, "cpu.cfs_quota_us")),
                _read(os.path.join(folder, "cpu.cfs_period_us")),
            )
        try:
            q, p = int(quota or -1), int(period or 0)
        except ValueError:
            continue
        if q > 0 and p > 0:
            cores = min(cores, max(1, math.ceil(q / p)))
    return max(cores, 1)


def peak_memory(device: torch.device) -> int | None:
    """Peak bytes of this process: allocated on the GPU, else resident (None where unknown)."""
    if device.type == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # macOS counts bytes, Linux KiB
