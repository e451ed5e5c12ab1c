"""Tiles of a large scene: the grid, the blending weights, the memory one fit needs.

A scene too large for one fit is cut into overlapping tiles; each tile is fused on its own and
the tiles are blended back with weights that fall smoothly to zero towards every tile edge that
lies inside the scene (a raised cosine across the overlap), divided by their sum. Every pixel is
then a convex combination of the tiles covering it, with no jump where one tile ends, and the
tile borders (where the network sees least context) count least.

Tile origins and sizes are multiples of the resolution ratio, so that every tile's
low-resolution input is a whole window of the low-resolution image.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

__all__ = ["Tile", "available_memory", "blend_weights", "estimate_memory", "largest_tile", "tile_grid"]


@dataclass(frozen=True)
class Tile:
    """One tile: its index in the grid and its window on the high-resolution grid."""

    index: int
    row: int
    col: int
    height: int
    width: int

    def window(self, factor: int = 1) -> tuple[slice, slice]:
        """Rows and columns of the tile on a grid ``factor`` times coarser."""
        return (
            slice(self.row // factor, (self.row + self.height) // factor),
            slice(self.col // factor, (self.col + self.width) // factor),
        )


def _starts(length: int, tile: int, overlap: int, factor: int) -> list[int]:
    """Tile origins along one axis: a regular step, the last tile flush with the end."""
    if tile >= length:
        return [0]
    step = tile - overlap
    n = math.ceil((length - tile) / step) + 1
    # Spread the tiles evenly (origins on multiples of the factor) instead of leaving the last one
    # a thin sliver: every overlap is then at least ``overlap``.
    span = length - tile
    return [factor * round(span * i / (n - 1) / factor) for i in range(n)]


def tile_grid(height: int, width: int, *, tile: int, overlap: int, factor: int = 1) -> list[Tile]:
    """Cover a ``height`` x ``width`` scene with tiles of at most ``tile`` pixels a side.

    Args:
        height, width: the high-resolution scene.
        tile: the tile side (a multiple of ``factor``); tiles are smaller only where the scene is.
        overlap: pixels shared by neighbouring tiles at least (a multiple of ``factor``, less
            than half the tile).
        factor: the resolution ratio.

    Raises:
        ValueError: sizes that are not multiples of the factor, an overlap of half a tile or more.

    Example:
        >>> [(t.row, t.col) for t in tile_grid(100, 60, tile=64, overlap=16, factor=4)]
        [(0, 0), (36, 0)]
    """
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    if height % factor or width % factor:
        raise ValueError(f"the scene ({height} x {width}) is not a multiple of the factor {factor}")
    if tile < 1 or tile % factor:
        raise ValueError(f"the tile size must be a positive multiple of the factor {factor}, got {tile}")
    if overlap < 0 or overlap % factor:
        raise ValueError(f"the overlap must be a non-negative multiple of the factor {factor}, got {overlap}")
    if 2 * overlap >= tile:
        raise ValueError(f"the overlap ({overlap}) must be less than half the tile ({tile})")
    rows = _starts(height, tile, overlap, factor)
    cols = _starts(width, tile, overlap, factor)
    tiles: list[Tile] = []
    for r in rows:
        for c in cols:
            tiles.append(Tile(len(tiles), r, c, min(tile, height), min(tile, width)))
    return tiles


def _ramp(n: int, start_inside: bool, end_inside: bool, overlap: int) -> np.ndarray:
    w = np.ones(n)
    if overlap <= 0:
        return w
    # Raised cosine over the overlap, sampled at pixel centres so that it never reaches 0.
    t = (np.arange(overlap) + 0.5) / overlap
    rise = 0.5 - 0.5 * np.cos(np.pi * t)
    m = min(overlap, n)
    if start_inside:
        w[:m] = np.minimum(w[:m], rise[:m])
    if end_inside:
        w[n - m :] = np.minimum(w[n - m :], rise[:m][::-1])
    return w


def blend_weights(tile: Tile, height: int, width: int, *, overlap: int) -> np.ndarray:
    """The tile's blending weights (H_t x W_t, float64, in (0, 1]).

    The weight falls as a raised cosine over ``overlap`` pixels towards each edge of the tile
    that lies inside the scene, and stays 1 at the scene's own edges. Blended = sum of weight *
    tile / sum of weights.

    Example:
        >>> t = tile_grid(64, 64, tile=48, overlap=16)[0]
        >>> w = blend_weights(t, 64, 64, overlap=16)
        >>> float(w[0, 0]), float(w[0, -1]) < 0.01
        (1.0, True)
    """
    rows = _ramp(tile.height, tile.row > 0, tile.row + tile.height < height, overlap)
    cols = _ramp(tile.width, tile.col > 0, tile.col + tile.width < width, overlap)
    return np.outer(rows, cols)


# Peak memory of one fit: bytes = overhead + (a + b * width) * H * W, fitted to measurements of
# this package's fits (6 steps of each task's default run on random inputs, each size and width
# in a fresh process; CPU peak resident set above the imported process, CUDA peak allocated) by
# ``python benchmarks/memory.py --fit``: through the 512 and 1024 figures at the preset's width
# and a quarter of it (benchmarks/results/memory-cpu.md). Keyed by (task, budget): (overhead,
# a, b, the preset's width).
_MEMORY: dict[tuple[str, str], tuple[float, float, float, int]] = {
    ("hs", "cpu"): (5.13e8, 1236.0, 137.1, 32),
    ("hs", "authors"): (6.31e8, 902.0, 149.1, 64),
    ("pan", "cpu"): (2.74e8, 695.0, 152.0, 64),
    ("pan", "authors"): (4.77e8, 701.0, 148.8, 64),
    ("flash", "cpu"): (2.96e8, 548.0, 129.0, 16),
    ("flash", "authors"): (2.02e8, 272.0, 150.6, 32),
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
    overhead, a, b, preset_width = _MEMORY[(task, budget)]
    return int(overhead + (a + b * (channels or preset_width)) * height * width)


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
