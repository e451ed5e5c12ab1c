"""Tiles of a large scene: the grid and the blending weights.

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
from dataclasses import dataclass

import numpy as np

from .checks import positive_int

__all__ = ["Tile", "blend_weights", "tile_grid"]


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
    factor = positive_int(factor, "factor")
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
