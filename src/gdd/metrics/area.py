"""The rectangle of data the indices are computed on, where nodata pixels leave less than the whole image."""

from __future__ import annotations

import math

import numpy as np

from ..io import InputError

__all__ = ["DataCells", "largest_rectangle", "valid_box"]


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
        k = _side(h, w)
        coarse = cells[: h // k * k, : w // k * k].reshape(h // k, k, w // k, k).all(axis=(1, 3))
        return _rectangle(coarse, k * unit, int(valid.sum()))
    return (slice(r0 * unit, r1 * unit), slice(c0 * unit, c1 * unit)), None


def _side(h: int, w: int) -> int:
    """The cells' side of the largest rectangle's grid: at most 1024 cells a side (seconds, not minutes)."""
    return max(1, math.ceil(max(h, w) / 1024))


def _rectangle(cells: np.ndarray, side: int, count: int) -> tuple[tuple[slice, slice], float]:
    """The largest rectangle of ``cells`` (each ``side`` pixels wide) and its share of ``count`` pixels with data."""
    r0, r1, c0, c1 = (side * v for v in largest_rectangle(cells))
    if r1 <= r0 or c1 <= c0:
        raise InputError("no rectangle of pixels with data is left to compute the indices on")
    return (slice(r0, r1), slice(c0, c1)), (r1 - r0) * (c1 - c0) / max(count, 1)


class DataCells:
    """Where an image read window by window has data, for :func:`valid_box`'s rectangle without the whole mask.

    ``add`` each window's mask (windows of :attr:`step`'s multiples, at most ``window`` pixels);
    :meth:`bounds` is the rectangle of the rows and columns with data, :meth:`rectangle` the
    largest rectangle of data and its share, as :func:`valid_box` finds them for the whole mask.
    """

    def __init__(self, h: int, w: int, window: int) -> None:
        self.k = _side(h, w)
        self.step = max(self.k, window // self.k * self.k)
        self.rows, self.cols = np.zeros(h, bool), np.zeros(w, bool)
        self.cells = np.zeros((-(-h // self.k), -(-w // self.k)), bool)  # wholly of data (a partial cell is not)
        self.count, self.cut = 0, False

    def add(self, r0: int, c0: int, valid: np.ndarray) -> None:
        """The mask (True = data) of the window whose first pixel is (``r0``, ``c0``)."""
        h, w = valid.shape
        self.rows[r0 : r0 + h] |= valid.any(axis=1)
        self.cols[c0 : c0 + w] |= valid.any(axis=0)
        self.count += int(valid.sum())
        self.cut |= not valid.all()
        k = self.k
        padded = np.pad(valid, ((0, -h % k), (0, -w % k)))
        whole = padded.reshape(padded.shape[0] // k, k, padded.shape[1] // k, k).all(axis=(1, 3))
        self.cells[r0 // k : r0 // k + whole.shape[0], c0 // k : c0 // k + whole.shape[1]] = whole

    def bounds(self) -> tuple[slice, slice]:
        """The rows and columns that hold data (the rectangle inside a nodata border)."""
        rows, cols = np.flatnonzero(self.rows), np.flatnonzero(self.cols)
        if not rows.size:
            raise InputError("no valid pixel is left once the nodata border is cropped")
        return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)

    def box(self) -> tuple[tuple[slice, slice] | None, float | None]:
        """What :func:`valid_box` returns for the whole mask: None where every pixel has data, the
        rectangle inside a nodata border, else the largest rectangle of data with its share."""
        if not self.cut:
            return None, None
        rows, cols = self.bounds()
        if self.count < (rows.stop - rows.start) * (cols.stop - cols.start):  # nodata cuts into the data
            return self.rectangle()
        return (rows, cols), None

    def rectangle(self) -> tuple[tuple[slice, slice], float]:
        """The largest rectangle of data, with its share of the pixels with data."""
        return _rectangle(self.cells, self.k, self.count)


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
