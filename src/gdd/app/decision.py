"""Where a tiled run decides what its tiles share: the central window, or the nearest with data.

The check or estimate of the degradations, the pansharpening start and degradation model, and
a shared band mixture are decided once, on one window, and used by every tile.
"""

from __future__ import annotations

import numpy as np

from ..io import NoDataError, WindowReader
from ..tiles import Tile

__all__ = ["CENTRAL_WINDOW", "DECISION_CANDIDATES", "central", "decision_window", "share_with_data", "valid_share"]

#: The side of the central window on which what is shared by every tile is decided.
CENTRAL_WINDOW = 1024


def central(h: int, w: int, factor: int, side: int) -> Tile:
    sh, sw = (min(side, n) // factor * factor for n in (h, w))
    return Tile(-1, (h - sh) // 2 // factor * factor, (w - sw) // 2 // factor * factor, sh, sw)


def valid_share(readers: tuple[WindowReader, WindowReader], window: Tile, factor: int) -> float:
    """The share of the window's pixels backed by data in both inputs."""
    try:
        lr, hr = readers[0].read(*window.window(factor)), readers[1].read(*window.window())
    except NoDataError:
        return 0.0
    return share_with_data(lr.mask, hr.mask, factor, (window.height, window.width))


def share_with_data(lr: np.ndarray | None, hr: np.ndarray | None, factor: int, shape: tuple[int, int]) -> float:
    """The share of an ``shape`` window's pixels backed by data in both inputs, from their masks (None: all data)."""
    valid = np.ones(shape, bool) if hr is None else hr.astype(bool)
    if lr is not None:
        valid = valid & np.kron(lr.astype(bool), np.ones((factor, factor), bool))[: shape[0], : shape[1]]
    return float(valid.mean())


#: At most this many windows, nearest the centre first, are read to find one with data.
DECISION_CANDIDATES = 256


def decision_window(readers: tuple[WindowReader, WindowReader], factor: int, side: int, *, share: float = 0.5) -> Tile:
    """Where what every tile shares is decided: the central window, or the nearest with data.

    The central ``side`` x ``side`` window when at least ``share`` of its pixels have data in
    both inputs (estimating the degradations needs all of them: ``share=1``); else the first
    such window in order of distance from the scene's centre (origins every half window, the
    last row and column of windows included; at most :data:`DECISION_CANDIDATES` read), or,
    where none has, the one with the most. A scene with nodata at its centre (a lake masked
    out, a mosaic's seam) is decided on the data nearest it.
    """
    h, w, _ = readers[1].shape
    centre = central(h, w, factor, side)
    if valid_share(readers, centre, factor) >= share:
        return centre

    def starts(size: int, extent: int) -> list[int]:
        step = max(factor, size // 2 // factor * factor)
        last = (extent - size) // factor * factor
        return sorted({*range(0, last + 1, step), last})

    origins = sorted(
        ((r, c) for r in starts(centre.height, h) for c in starts(centre.width, w)),
        key=lambda rc: (rc[0] - centre.row) ** 2 + (rc[1] - centre.col) ** 2,
    )
    best, most = centre, 0.0
    for r, c in origins[:DECISION_CANDIDATES]:
        window = Tile(-1, r, c, centre.height, centre.width)
        found = valid_share(readers, window, factor)
        if found >= share:
            return window
        if found > most:
            best, most = window, found
    return best
