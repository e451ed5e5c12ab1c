"""Sensor modulation transfer functions (MTF) as the pansharpening toolbox models them.

Each band's MTF is a Gaussian whose gain at the Nyquist frequency of the low-resolution grid is
``GNyq``; the filter is designed by frequency sampling with a Kaiser window (41 x 41 taps), as in
Vivone et al.'s toolbox (``genMTF.m``, ``MTF_PAN.m``; Aiazzi et al. 2006). The gains below are
the toolbox's. The filter is applied with replicated borders, and decimation keeps pixel
``ratio // 2`` of every block, as MATLAB's ``imresize(..., 1/ratio, 'nearest')`` does.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .checks import positive_int

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["SENSORS", "ms_gains", "mtf_decimate", "mtf_filter", "mtf_kernel", "sensor_gnyq"]

#: Nyquist gains per sensor: (MS bands in the sensor's order, PAN). ``none`` is the toolbox's
#: choice for an unknown sensor: 0.29 for every MS band (``MTF.m``; a later ``genMTF.m`` uses 0.3)
#: and 0.15 for the PAN.
SENSORS: dict[str, tuple[tuple[float, ...] | None, float]] = {
    "QB": ((0.34, 0.32, 0.30, 0.22), 0.15),
    "IKONOS": ((0.26, 0.28, 0.29, 0.28), 0.17),
    "GeoEye1": ((0.23, 0.23, 0.23, 0.23), 0.16),
    "WV4": ((0.23, 0.23, 0.23, 0.23), 0.16),
    "WV2": ((0.35, 0.35, 0.35, 0.35, 0.35, 0.35, 0.35, 0.27), 0.11),
    "WV3": ((0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315), 0.14),
    "none": (None, 0.15),
}

_DEFAULT_MS_GNYQ = 0.29


def sensor_gnyq(sensor: str, bands: int | None = None) -> list[float]:
    """Nyquist gains of a sensor: one per MS band, or the PAN's (``bands=None``).

    Raises:
        ValueError: for an unknown sensor, or a band count the sensor does not have.

    Example:
        >>> sensor_gnyq("QB", 4)
        [0.34, 0.32, 0.3, 0.22]
        >>> sensor_gnyq("none")
        [0.15]
    """
    if sensor not in SENSORS:
        raise ValueError(f"unknown sensor {sensor!r}; expected one of {', '.join(SENSORS)}")
    ms, pan = SENSORS[sensor]
    if bands is None:
        return [pan]
    if ms is None:
        return [_DEFAULT_MS_GNYQ] * bands
    if len(ms) != bands:
        raise ValueError(f"sensor {sensor} has {len(ms)} MS bands, the image has {bands}; name another sensor, or none")
    return list(ms)


def ms_gains(sensor: str, bands: int, gnyq: Sequence[float] | None = None) -> list[float]:
    """The MS bands' Nyquist gains: ``gnyq`` given by hand (one for all bands, or one per band), else the sensor's.

    For a sensor the table does not list (Pléiades, SPOT 6/7, Landsat 8/9, Sentinel-2, GF-2,
    PlanetScope ...), give the gains its calibration reports.

    Raises:
        ValueError: a gain count that is neither 1 nor the band count; as :func:`sensor_gnyq`.

    Example:
        >>> ms_gains("none", 4, [0.3])
        [0.3, 0.3, 0.3, 0.3]
        >>> ms_gains("QB", 4)
        [0.34, 0.32, 0.3, 0.22]
    """
    if gnyq is None:
        return sensor_gnyq(sensor, bands)
    values = [float(g) for g in gnyq]
    if len(values) == 1:
        return values * bands
    if len(values) != bands:
        raise ValueError(f"--gnyq gives {len(values)} gains, the MS image has {bands} bands; give one or {bands}")
    return values


def _check_ratio(ratio: int) -> int:
    return positive_int(ratio, "ratio")


def mtf_kernel(ratio: int, gnyq: float, *, size: int = 41) -> np.ndarray:
    """The toolbox's MTF-matched filter: a (size, size) float64 kernel.

    A Gaussian frequency response with gain ``gnyq`` at the cut-off 1 / ratio is sampled
    (``fsamp2``) and windowed by a rotated 1-D Kaiser window (beta 0.5; MATLAB's ``fwind1``).
    As in the toolbox the taps are not renormalised: the DC gain is about 0.998.

    Example:
        >>> h = mtf_kernel(4, 0.3)
        >>> h.shape, bool(abs(h.sum() - 1) < 0.01), bool(np.allclose(h, h.T))
        ((41, 41), True, True)
    """
    ratio = _check_ratio(ratio)
    if not 0 < gnyq < 1:
        raise ValueError(f"the Nyquist gain must be in (0, 1), got {gnyq}")
    sigma = np.sqrt(((size - 1) * (1 / ratio / 2)) ** 2 / (-2 * np.log(gnyq)))
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * sigma**2))
    hd = g / g.max()
    # fsamp2: the frequency samples (centred) to taps (centred).
    h = np.rot90(np.fft.fftshift(np.fft.ifft2(np.rot90(np.fft.fftshift(np.rot90(hd, 2)), 2))), 2).real
    # fwind1 with one window: Huang's rotation of the 1-D Kaiser window into a circular 2-D one.
    r = np.linspace(-1, 1, size)
    radius = np.hypot(r[:, None], r[None, :])
    window = np.interp(radius, r, np.kaiser(size, 0.5))
    window[radius > 1] = 0
    return np.ascontiguousarray(h * window)


def mtf_filter(x: Tensor, ratio: int, gnyq: Sequence[float]) -> Tensor:
    """Filter each band of a (B, C, H, W) image with its MTF kernel, borders replicated.

    ``gnyq`` holds one gain per band (or one for all). Follows the input's device and dtype.

    Example:
        >>> import torch
        >>> y = mtf_filter(torch.ones(1, 2, 8, 8), 4, [0.3, 0.3])
        >>> y.shape, bool((y - mtf_kernel(4, 0.3).sum()).abs().max() < 1e-5)
        (torch.Size([1, 2, 8, 8]), True)
    """
    if x.ndim != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    return _filtered(x, ratio, _gains(gnyq, x.shape[1]), stride=1)


def mtf_decimate(x: Tensor, ratio: int, gnyq: Sequence[float]) -> Tensor:
    """MTF filtering, then keeping pixel ``ratio // 2`` of every ratio x ratio block.

    Example:
        >>> import torch
        >>> mtf_decimate(torch.rand(1, 3, 16, 12), 4, [0.3]).shape
        torch.Size([1, 3, 4, 3])
    """
    ratio = _check_ratio(ratio)
    h, w = x.shape[-2:]
    if h % ratio or w % ratio:
        raise ValueError(f"image size {h} x {w} is not divisible by the ratio {ratio}")
    if x.ndim != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    return _filtered(x, ratio, _gains(gnyq, x.shape[1]), stride=ratio)


def _gains(gnyq: Sequence[float], bands: int) -> tuple[float, ...]:
    """One Nyquist gain per band, as floats (one given for all is repeated), else ``ValueError``."""
    gains = [float(g) for g in gnyq]
    if len(gains) == 1:
        gains = gains * bands
    if len(gains) != bands:
        raise ValueError(f"{len(gains)} Nyquist gains for {bands} bands")
    return tuple(gains)


@functools.lru_cache(maxsize=32)
def _kernels(ratio: int, gains: tuple[float, ...]) -> np.ndarray:
    """The (C, 1, 41, 41) stack of the bands' kernels, designed once per ratio and gains."""
    k = np.stack([mtf_kernel(ratio, g) for g in gains])[:, None]
    k.setflags(write=False)
    return k


def _filtered(x: Tensor, ratio: int, gains: tuple[float, ...], *, stride: int) -> Tensor:
    """Each band filtered with its kernel, borders replicated; with ``stride`` > 1 only pixel
    ``stride // 2`` of every block is computed (the filtered image's decimation, at 1 / stride^2
    of the cost of filtering every pixel; the same values, to rounding)."""
    # torch is imported here, not at the top: the command line lists the sensors without it.
    import torch
    import torch.nn.functional as F

    kernels = _kernels(_check_ratio(ratio), gains)
    weight = torch.from_numpy(kernels.copy()).to(device=x.device, dtype=x.dtype)
    pad = kernels.shape[-1] // 2
    # Replicate padding needs at least one pixel; MATLAB's 'replicate' extends the edge any distance.
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    if stride == 1:
        return F.conv2d(xp, weight, groups=x.shape[1])
    off = stride // 2
    h, w = x.shape[-2:]
    y = F.conv2d(xp[..., off:, off:], weight, groups=x.shape[1], stride=stride)
    return y[..., : h // stride, : w // stride]
