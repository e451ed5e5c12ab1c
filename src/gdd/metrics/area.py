"""The rectangle of data the indices are computed on, where nodata pixels leave less than the whole image."""

from __future__ import annotations

import math

import numpy as np

from ..io import InputError

__all__ = ["largest_rectangle", "valid_box"]


def valid_box(masks: list[np.ndarray], unit: int = 1) -> tuple[tuple[slice, slice] | None, float | None]:
    """The rectangle (on a grid of ``unit``) of valid pixels of all ``masks`` the indices are computed on.

    None if every pixel is valid. Where the nodata pixels are a border, the rectangle inside it;
    where they cut into the data elsewhere (a corner, a swath's slanted edge), the largest
    rectangle of data (the indices' windows need a rectangle of data), with the share of the
    pixels with data it holds (else None), for the caller to say.

    Raises:
        InputError: no rectangle of data at all.
    """
    if not masks:
        return None, None
    valid = np.logical_and.reduce(masks)
    if valid.all():
        return None, None
    h, w = valid.shape[0] // unit, valid.shape[1] // unit
    cells = valid[: h * unit, : w * unit].reshape(h, unit, w, unit).all(axis=(1, 3))  # whole cells of the grid
    rows, cols = np.flatnonzero(cells.any(axis=1)), np.flatnonzero(cells.any(axis=0))
    if not rows.size:
        raise InputError("no rectangle of pixels with data is left to compute the indices on")
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if not cells[r0:r1, c0:c1].all():
        k = max(1, math.ceil(max(h, w) / 1024))  # a grid of at most 1024 cells a side: seconds, not minutes
        coarse = cells[: h // k * k, : w // k * k].reshape(h // k, k, w // k, k).all(axis=(1, 3))
        r0, r1, c0, c1 = (k * v for v in largest_rectangle(coarse))
        if r1 <= r0 or c1 <= c0:
            raise InputError("no rectangle of pixels with data is left to compute the indices on")
        share = (r1 - r0) * (c1 - c0) * unit * unit / max(int(valid.sum()), 1)
        return (slice(r0 * unit, r1 * unit), slice(c0 * unit, c1 * unit)), share
    return (slice(r0 * unit, r1 * unit), slice(c0 * unit, c1 * unit)), None


def largest_rectangle(cells: np.ndarray) -> tuple[int, int, int, int]:
    """Rows r0:r1 and columns c0:c1 of the largest all-True rectangle of a 2-D bool array (row by row, a histogram).

    Example:
        >>> cells = np.ones((4, 5), dtype=bool)
        >>> cells[:2, :2] = False
        >>> largest_rectangle(cells)
        (0, 4, 2, 5)
    """
    best, found = 0, (0, 0, 0, 0)
    heights = np.zeros(cells.shape[1] + 1, dtype=np.int64)  # a 0 at the end empties the stack
    for r, row in enumerate(cells):
        heights[:-1] = np.where(row, heights[:-1] + 1, 0)
        stack: list[tuple[int, int]] = []  # (first column, height), heights rising
        for c, height in enumerate(heights.tolist()):
            start = c
            while stack and stack[-1][1] >= height:
                start, top = stack.pop()
                if top * (c - start) > best:
                    best, found = top * (c - start), (r + 1 - top, r + 1, start, c)
            stack.append((start, height))
    return found
