"""How much memory one fit needs and how much there is: the choice between one fit and tiles."""

from __future__ import annotations

import math
import os

__all__ = ["available_memory", "estimate_memory", "largest_tile"]

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


def available_memory(device: str = "cpu") -> int | None:
    """Bytes free for a fit on ``device`` now (CUDA: free device memory; CPU: MemAvailable), or None.

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
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None
