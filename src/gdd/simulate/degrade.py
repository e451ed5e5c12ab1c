"""The Wald protocol's degradations: spatial (block, Gaussian, sensor MTF), spectral, noise."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..operators import BlockAverage, GaussianDownsample, KernelDownsample
from ..sensors import SENSORS, mtf_decimate, sensor_gnyq

Spatial = Literal["block", "gaussian", "mtf"]


_SPATIAL = ("block", "gaussian", "mtf")


# --------------------------------------------------------------------------- degradation


def _check_int(value: int, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{what} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_cube(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 3 or min(a.shape) < 1:
        raise ValueError(f"{name} must be H x W x C, got shape {a.shape}")
    if a.dtype.kind not in "biuf" or not np.isfinite(a).all():
        raise ValueError(f"{name} must hold finite numbers")
    return a.astype(np.float64)


def _fit(a: np.ndarray, factor: int, crop: bool, name: str) -> np.ndarray:
    h, w = a.shape[:2]
    if crop:
        a = a[: h - h % factor, : w - w % factor]
        if a.shape[0] == 0 or a.shape[1] == 0:
            raise ValueError(f"{name} size {h} x {w} is smaller than the factor {factor}")
    elif h % factor or w % factor:
        raise ValueError(f"{name} size {h} x {w} is not divisible by the factor {factor} (crop=True crops it)")
    return a


def _to_torch(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(a, -1, 0), dtype=np.float64))[None]


def _from_torch(x: Tensor) -> np.ndarray:
    return np.ascontiguousarray(x[0].permute(1, 2, 0).numpy())


def add_noise(x: np.ndarray, *, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` per band: SNR = 10 log10(mean(x_b^2) / sigma_b^2).

    ``x`` is H x W x C (each band its own sigma) or H x W (one band). Values are not clipped,
    so that the noise stays zero-mean.

    Example:
        >>> y = add_noise(np.ones((64, 64, 2)), snr_db=20, rng=np.random.default_rng(0))
        >>> bool(abs(10 * np.log10(1 / (y - 1).var()) - 20) < 0.5)
        True
    """
    if not math.isfinite(snr_db):
        raise ValueError(f"snr_db must be a finite number, got {snr_db!r}")
    x = np.asarray(x, dtype=np.float64)
    axes = (0, 1) if x.ndim == 3 else None
    sigma = np.sqrt(np.mean(x**2, axis=axes) / 10 ** (snr_db / 10))
    return x + rng.standard_normal(x.shape) * sigma


def simulate_hs(
    cube: np.ndarray,
    *,
    factor: int,
    srf: np.ndarray,
    spatial: Spatial = "block",
    sensor: str = "none",
    snr_db: float | None = None,
    seed: int = 0,
    crop: bool = False,
    sigma: float | None = None,
    shift: tuple[int, int] = (0, 0),
) -> dict[str, np.ndarray]:
    """An HS-MS fusion case: a low-resolution HSI and a high-resolution MSI from a cube.

    hsi = S(cube), with S by ``spatial``: ``"block"`` the average of factor x factor blocks;
    ``"gaussian"`` :class:`gdd.operators.GaussianDownsample` (FWHM = factor, centred on each
    block); ``"mtf"`` :func:`gdd.sensors.mtf_decimate` with the gains of ``sensor`` (0.29 per
    band for ``"none"``), which keeps pixel factor // 2 of each block.
    msi = cube @ R_n^T with R_n[k] = srf[k] / sum_c srf[k, c] (rows normalised to sum 1, the
    standard CAVE protocol). With ``snr_db`` both get Gaussian noise per band
    (:func:`add_noise`), the HSI's drawn first, from ``numpy.random.default_rng(seed)``.

    Args:
        cube: H x W x C reference in [0, 1].
        factor: the spatial scale.
        srf: (K, C) response; each row must have a positive sum.
        spatial: ``"block"``, ``"gaussian"`` or ``"mtf"``.
        sensor: a key of :data:`gdd.sensors.SENSORS`; only with ``spatial="mtf"``.
        snr_db: noise level of both inputs; None for none.
        seed: the noise seed.
        crop: crop H and W down to multiples of ``factor`` (keeping the top-left corner)
            instead of raising.
        sigma: the Gaussian's standard deviation in high-resolution pixels (``"gaussian"``
            only; default: FWHM = factor).
        shift: (rows, columns) in high-resolution pixels by which the HSI is misregistered:
            its pixel i is centred ``shift`` pixels below/right of block i's centre (the
            block or Gaussian kernel moved by ``shift``, :class:`gdd.operators.KernelDownsample`).

    Returns:
        ``hsi`` (H/f, W/f, C), ``msi`` (H, W, K), ``gt`` (H, W, C) as float32, and ``srf`` the
        normalised (K, C) float64 matrix that made ``msi``. :func:`simulation_kernel` gives the
        blur that made ``hsi``.

    Raises:
        ValueError: a size not divisible by the factor, a response that does not fit, an
            unknown option.

    Example:
        >>> out = simulate_hs(np.full((8, 8, 4), 0.5), factor=4, srf=np.ones((1, 4)))
        >>> out["hsi"].shape, out["msi"].shape, float(out["msi"].max())
        ((2, 2, 4), (8, 8, 1), 0.5)
    """
    factor = _check_int(factor, "factor", 1)
    seed = _check_int(seed, "seed", 0)
    if spatial not in _SPATIAL:
        raise ValueError(f"spatial must be 'block', 'gaussian' or 'mtf', got {spatial!r}")
    if sensor not in SENSORS:
        raise ValueError(f"unknown sensor {sensor!r}; expected one of {', '.join(SENSORS)}")
    if sensor != "none" and spatial != "mtf":
        raise ValueError(f"a sensor ({sensor}) applies to spatial='mtf' only, got spatial={spatial!r}")
    gt = _fit(_check_cube(cube, "cube"), factor, crop, "cube")
    c = gt.shape[2]
    r = np.asarray(srf, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != c:
        raise ValueError(f"srf must be a (K, {c}) matrix for a {c}-band cube, got shape {r.shape}")
    sums = r.sum(axis=1)
    if not np.all(sums > 0):
        raise ValueError(f"every response row must have a positive sum, got sums {np.round(sums, 6).tolist()}")
    r = r / sums[:, None]
    if sigma is not None and (spatial != "gaussian" or not sigma > 0):
        raise ValueError(f"sigma must be a positive width with spatial='gaussian', got {sigma!r} with {spatial!r}")
    if len(shift) != 2 or any(isinstance(v, bool) or int(v) != v for v in shift):
        raise ValueError(f"shift must be two integers (rows, columns), got {shift!r}")
    dy, dx = int(shift[0]), int(shift[1])
    if (dy, dx) != (0, 0) and spatial == "mtf":
        raise ValueError("shift applies to spatial='block' or 'gaussian' only")
    x = _to_torch(gt)
    if spatial == "block" and (dy, dx) == (0, 0):
        y = BlockAverage(factor)(x)
    elif spatial == "gaussian" and (dy, dx) == (0, 0):
        y = GaussianDownsample(factor, sigma=sigma)(x)
    elif spatial != "mtf":
        kernel = simulation_kernel(factor, spatial=spatial, sigma=sigma, shift=(dy, dx))
        y = KernelDownsample(torch.from_numpy(kernel), factor)(x)
    else:
        y = mtf_decimate(x, factor, sensor_gnyq(sensor, c))
    hsi = _from_torch(y)
    msi = np.einsum("hwc,kc->hwk", gt, r)
    if snr_db is not None:
        rng = np.random.default_rng(seed)
        hsi = add_noise(hsi, snr_db=snr_db, rng=rng)
        msi = add_noise(msi, snr_db=snr_db, rng=rng)
    return {"hsi": hsi.astype(np.float32), "msi": msi.astype(np.float32), "gt": gt.astype(np.float32), "srf": r}


def simulation_kernel(
    factor: int,
    *,
    spatial: Literal["block", "gaussian"] = "block",
    sigma: float | None = None,
    shift: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """The (s, s) blur of :class:`gdd.operators.KernelDownsample` that :func:`simulate_hs` applies.

    The block average (s = f) or the Gaussian of :class:`gdd.operators.GaussianDownsample`
    (``sigma``, default FWHM = f), padded by max(|shift|) on every side and moved by ``shift``
    (rows, columns); a ground truth for :mod:`gdd.estimate`.

    Example:
        >>> k = simulation_kernel(2, shift=(1, 0))
        >>> k.shape, k[2, 1:3].tolist()
        ((4, 4), [0.25, 0.25])
    """
    factor = _check_int(factor, "factor", 1)
    if spatial == "block":
        kernel = torch.full((factor, factor), 1 / factor**2, dtype=torch.float64)
    elif spatial == "gaussian":
        k1 = GaussianDownsample(factor, sigma=sigma).kernel1d.double()
        kernel = torch.outer(k1, k1) / k1.sum() ** 2
    else:
        raise ValueError(f"spatial must be 'block' or 'gaussian', got {spatial!r}")
    dy, dx = int(shift[0]), int(shift[1])
    m = max(abs(dy), abs(dx))
    if m:
        kernel = torch.roll(F.pad(kernel, (m, m, m, m)), (dy, dx), dims=(0, 1))
    return kernel.numpy()


def simulate_pan(
    ms: np.ndarray,
    pan: np.ndarray,
    *,
    ratio: int,
    sensor: str = "none",
    snr_db: float | None = None,
    seed: int = 0,
    crop: bool = False,
) -> dict[str, np.ndarray]:
    """A pansharpening case by Wald's protocol, as the toolbox's ``resize_images.m``.

    ms_lr = D(MTF_ms * ms), pan_lr = D(MTF_pan * pan): each band is filtered by its sensor's
    MTF-matched Gaussian (:func:`gdd.sensors.mtf_filter`: the MS bands' gains, the PAN's gain;
    ``"none"``: 0.29 and 0.15) with replicated borders, then D keeps pixel ratio // 2 (0-based)
    of every ratio x ratio block, as MATLAB's ``imresize(..., 1/ratio, 'nearest')``; the MS
    image at full resolution is the reference. With ``snr_db`` both inputs get Gaussian noise
    (:func:`add_noise`), the MS image's drawn first, from ``numpy.random.default_rng(seed)``.

    Args:
        ms: H x W x C multispectral image in [0, 1].
        pan: (ratio H) x (ratio W) panchromatic image (or with a last axis of 1).
        ratio: the scale between the PAN and the MS grids.
        sensor: a key of :data:`gdd.sensors.SENSORS`.
        snr_db: noise level of both inputs; None for none.
        seed: the noise seed.
        crop: crop the MS image to multiples of ``ratio`` (top-left corner) and the PAN to
            ratio times that, instead of raising.

    Returns:
        ``ms_lr`` (H/r, W/r, C), ``pan_lr`` (H, W) and ``gt`` (H, W, C), float32.

    Raises:
        ValueError: a size not divisible by the ratio, a PAN that is not ratio times the MS
            image, an unknown sensor or one with another band count.

    Example:
        >>> out = simulate_pan(np.full((8, 8, 4), 0.5), np.full((32, 32), 0.5), ratio=4)
        >>> out["ms_lr"].shape, out["pan_lr"].shape, out["gt"].shape
        ((2, 2, 4), (8, 8), (8, 8, 4))
    """
    ratio = _check_int(ratio, "ratio", 1)
    seed = _check_int(seed, "seed", 0)
    gt = _fit(_check_cube(ms, "ms"), ratio, crop, "ms image")
    p = np.asarray(pan)
    if p.ndim == 3 and p.shape[2] == 1:
        p = p[..., 0]
    if p.ndim != 2:
        raise ValueError(f"pan must be H x W, got shape {p.shape}")
    p = _check_cube(p[..., None], "pan")
    h, w, c = gt.shape
    if crop:
        p = p[: ratio * h, : ratio * w]
    if p.shape[:2] != (ratio * h, ratio * w):
        raise ValueError(
            f"pan is {p.shape[0]} x {p.shape[1]}, expected {ratio * h} x {ratio * w} (ratio {ratio} x the ms image)"
        )
    ms_lr = _from_torch(mtf_decimate(_to_torch(gt), ratio, sensor_gnyq(sensor, c)))
    pan_lr = _from_torch(mtf_decimate(_to_torch(p), ratio, sensor_gnyq(sensor)))[..., 0]
    if snr_db is not None:
        rng = np.random.default_rng(seed)
        ms_lr = add_noise(ms_lr, snr_db=snr_db, rng=rng)
        pan_lr = add_noise(pan_lr, snr_db=snr_db, rng=rng)
    return {"ms_lr": ms_lr.astype(np.float32), "pan_lr": pan_lr.astype(np.float32), "gt": gt.astype(np.float32)}
