"""Images as a report shows them: H x W x C arrays, false-colour composites, pixels and spectra.

Pure numpy, no matplotlib: the stretch limits and 8-bit composites that every figure of
:mod:`gdd.report` shares, and the pixels whose spectra it plots.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..checks import positive_int
from ..io import preview_bands

__all__ = ["Limits", "Pixel", "as_hwc", "default_pixels", "false_colour", "spectrum_at", "stretch_limits"]

#: Per-band (low, high) stretch limits of a composite's red, green and blue bands.
Limits = tuple[np.ndarray, np.ndarray]
#: A (row, column) pixel.
Pixel = tuple[int, int]


def as_hwc(arr: np.ndarray, name: str = "image") -> np.ndarray:
    """``arr`` as an H x W x C array (an H x W one gains a last axis of 1), else ``ValueError`` naming it.

    Example:
        >>> as_hwc(np.zeros((4, 5))).shape
        (4, 5, 1)
    """
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or min(a.shape) < 1:
        raise ValueError(f"{name}: expected an H x W or H x W x C array, got shape {a.shape}")
    return a


def _bands(bands: Sequence[int] | None, channels: int) -> list[int]:
    if bands is None:
        return preview_bands(channels)
    chosen = [int(b) for b in bands]
    if len(chosen) != 3 or not all(0 <= b < channels for b in chosen):
        raise ValueError(f"bands must be three indices in [0, {channels - 1}], got {list(bands)}")
    return chosen


def stretch_limits(
    arr: np.ndarray, *, bands: Sequence[int] | None = None, percentiles: tuple[float, float] | None = (1.0, 99.0)
) -> Limits:
    """Per-band (low, high) stretch limits of the red, green, blue bands of ``arr``.

    Compute them once (from the reference, else the result) and pass them as ``limits`` to
    :func:`false_colour` for every image shown beside it, so that colours are comparable.
    ``percentiles=None`` keeps values as they are: limits (0, 1). Non-finite values are ignored.

    Returns:
        ``(low, high)``, two float64 arrays of length 3.

    Example:
        >>> lo, hi = stretch_limits(np.arange(101.0).reshape(1, 101), percentiles=(10, 90))
        >>> lo.tolist(), hi.tolist()
        ([10.0, 10.0, 10.0], [90.0, 90.0, 90.0])
    """
    a = as_hwc(arr)
    chosen = _bands(bands, a.shape[2])
    if percentiles is None:
        return np.zeros(3), np.ones(3)
    if not 0 <= percentiles[0] < percentiles[1] <= 100:
        raise ValueError(f"percentiles must be (low, high) with 0 <= low < high <= 100, got {percentiles}")
    lo, hi = np.zeros(3), np.ones(3)
    for k, b in enumerate(chosen):
        v = a[..., b].astype(np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            lo[k], hi[k] = np.percentile(v, percentiles)
    return lo, hi


def false_colour(
    arr: np.ndarray,
    *,
    bands: Sequence[int] | None = None,
    percentiles: tuple[float, float] | None = (1.0, 99.0),
    limits: Limits | None = None,
) -> np.ndarray:
    """An 8-bit H x W x 3 composite of three bands, each stretched linearly between its limits.

    Args:
        arr: H x W x C (or H x W) image.
        bands: the red, green, blue band indices; default :func:`gdd.io.preview_bands` (one band is grey).
        percentiles: the stretch when ``limits`` is not given (see :func:`stretch_limits`).
        limits: shared ``(low, high)`` limits from :func:`stretch_limits`; they win over ``percentiles``.

    Example:
        >>> false_colour(np.array([[0.0, 30.0, 50.0, 100.0]]), percentiles=None)[..., 0].tolist()
        [[0, 255, 255, 255]]
    """
    a = as_hwc(arr)
    chosen = _bands(bands, a.shape[2])
    lo, hi = limits if limits is not None else stretch_limits(a, bands=chosen, percentiles=percentiles)
    rgb = (a[..., chosen].astype(np.float64) - lo) / np.maximum(hi - lo, 1e-12)
    rgb = np.clip(np.nan_to_num(rgb, nan=0.0), 0, 1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def default_pixels(h: int, w: int) -> list[Pixel]:
    """Three well spread (row, col) pixels of an h x w image, away from the borders.

    Example:
        >>> default_pixels(64, 64)
        [(16, 16), (32, 48), (48, 21)]
    """
    return [(h // 4, w // 4), (h // 2, 3 * w // 4), (3 * h // 4, w // 3)]


def spectrum_at(arr: np.ndarray, pixel: Pixel, *, factor: int = 1) -> np.ndarray:
    """The spectrum at a high-resolution ``pixel`` of an image ``factor`` times smaller: arr[row // f, col // f].

    Example:
        >>> spectrum_at(np.arange(8.0).reshape(2, 2, 2), (3, 1), factor=2).tolist()
        [4.0, 5.0]
    """
    a = as_hwc(arr)
    factor = positive_int(factor, "factor")
    i, j = pixel[0] // factor, pixel[1] // factor
    if not (0 <= i < a.shape[0] and 0 <= j < a.shape[1]):
        raise ValueError(f"pixel {tuple(pixel)} with factor {factor} falls outside a {a.shape[0]} x {a.shape[1]} image")
    return a[i, j].astype(np.float64)
