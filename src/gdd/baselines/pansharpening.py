"""Classic pansharpening: EXP, Brovey, PCA, GS, GSA, MTF-GLP, MTF-GLP-HPM, SFIM.

Our torch implementations of the methods of Vivone et al.'s toolbox ("A critical comparison
among pansharpening algorithms", TGRS 2015; the 2020 benchmark), read from its MATLAB code
(``GS.m``, ``GSA.m``, ``PCA.m``, ``MTF_GLP.m``, ``GS2_GLP.m``, ``MTF_GLP_HPM.m``, the HPM/SFIM
box-filter scheme, the BT (Brovey) scheme, ``interp23tap.m``, ``estimation_alpha.m``, ``LPfilterPlusDec.m``,
``LPfilterGauss.m``, ``genMTF.m``). Deviations are named in each docstring.

Every method takes ``ms`` (1, C, h, w) and ``pan`` (1, 1, h r, w r) and returns (1, C, h r, w r)
on the input's device, in the MS's floating dtype (float32 for integer input). The work is done
in float64 (float32 on MPS, which has no float64). The "histogram matching" of the toolbox is a
mean and standard-deviation equalisation, as here.

The MS is first interpolated to the PAN's grid, by default with the toolbox's 23-tap
interpolator (:func:`interp23tap`), which assumes that MS pixel i sits on PAN pixel
``r i + r // 2`` (MTF filtering then MATLAB's nearest decimation, the toolbox's Wald protocol);
``upsample="bicubic"`` uses MATLAB's bicubic ``imresize`` instead, which assumes block centres
(block averaging or bicubic decimation, as in :mod:`gdd.operators`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..operators import imresize
from ..sensors import mtf_filter, sensor_gnyq

__all__ = [
    "Injection",
    "Upsample",
    "brovey",
    "exp",
    "gs",
    "gsa",
    "interp23tap",
    "mtf_glp",
    "mtf_glp_hpm",
    "pca",
    "sfim",
]

Upsample = Literal["interp23tap", "bicubic"]
Injection = Literal["regression", "unit"]

# Aiazzi et al.'s 23-tap half-band interpolator (``interp23tap.m``): the centre and the odd taps
# of one half; even taps away from the centre are zero, so original samples are kept.
_CDF23_HALF = (0.5, 0.305334091185, 0.0, -0.072698593239, 0.0, 0.021809577942, 0.0, -0.005192756653, 0.0,
               0.000807762146, 0.0, -0.000060081482)  # fmt: skip
# Starck and Murtagh's B3-spline kernel (``LPfilterPlusDec.m``).
_B3 = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)

PadMode = Literal["replicate", "symmetric", "circular"]


# --------------------------------------------------------------------------- helpers (shared with hs.py)


def _work_dtype(x: Tensor) -> torch.dtype:
    return torch.float32 if x.device.type == "mps" else torch.float64


def _out_dtype(x: Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.float32


def _check_int(value: int, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_single(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a (1, C, H, W) tensor, got {shape}")
    if x.shape[1] < 1 or x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")


def _check_pair(lr: Tensor, hr: Tensor, factor: int, names: tuple[str, str], what: str) -> None:
    h, w = lr.shape[-2:]
    if hr.shape[-2:] != (h * factor, w * factor):
        raise ValueError(
            f"{names[1]} is {hr.shape[-2]} x {hr.shape[-1]} but {names[0]} is {h} x {w}: with {what} {factor} "
            f"{names[1]} must be {h * factor} x {w * factor}"
        )


def _choice(value: str, name: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")


def _pad_index(n: int, before: int, after: int, mode: PadMode, device: torch.device) -> Tensor:
    """Indices that pad a length-n axis, for any pad width (torch's own padding caps it at n)."""
    i = torch.arange(-before, n + after, device=device)
    if mode == "replicate":
        return i.clamp(0, n - 1)
    if mode == "circular":
        return i % n
    j = i % (2 * n)  # MATLAB 'symmetric': the edge sample is repeated
    return torch.where(j < n, j, 2 * n - 1 - j)


def _separable(x: Tensor, kernel: Tensor, mode: PadMode) -> Tensor:
    """Filter each band of (B, C, H, W) with the outer product of an odd 1-D kernel with itself."""
    b, c, h, w = x.shape
    p = (kernel.numel() - 1) // 2
    xp = x[..., _pad_index(h, p, p, mode, x.device), :][..., _pad_index(w, p, p, mode, x.device)]
    k = kernel.to(x)
    y = F.conv2d(xp.reshape(b * c, 1, h + 2 * p, w + 2 * p), k.view(1, 1, -1, 1))
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    return y.reshape(b, c, h, w)


def _box(x: Tensor, size: int) -> Tensor:
    """Mean over a size x size window (odd size), borders replicated."""
    return _separable(x, torch.full((size,), 1.0 / size, dtype=torch.float64), "replicate")


def _mean(x: Tensor) -> Tensor:
    return x.mean(dim=(-2, -1), keepdim=True)


def _std(x: Tensor) -> Tensor:
    return x.std(dim=(-2, -1), keepdim=True)


def _cov(a: Tensor, b: Tensor) -> Tensor:
    """Per-band sample covariance of two (1, C, H, W) images (broadcast over bands): (1, C, 1, 1)."""
    n = a.shape[-2] * a.shape[-1]
    return ((a - _mean(a)) * (b - _mean(b))).sum(dim=(-2, -1), keepdim=True) / max(n - 1, 1)


def _equalise(x: Tensor, ref: Tensor, *, spread: Tensor | None = None) -> Tensor:
    """Match the mean and standard deviation of x to ``ref`` (the toolbox's equalisation).

    ``spread`` replaces std(x) in the ratio (``MTF_GLP.m`` uses the std of the PAN's low-pass).
    """
    s = _std(x) if spread is None else spread
    # A flat x has nothing to scale: it becomes mean(ref) instead of 0/0.
    return (x - _mean(x)) * (_std(ref) / _nonzero(s)) + _mean(ref)


def _nonzero(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, torch.ones_like(x))


def _gain(target: Tensor, source: Tensor) -> Tensor:
    """Regression gain cov(target, source) / var(source) per band; 0 where the source is flat (toolbox: NaN)."""
    var = _cov(source, source)
    return torch.where(var > 0, _cov(target, source) / _nonzero(var), torch.zeros_like(var))


def _lstsq(a: Tensor, b: Tensor) -> Tensor:
    """Least-squares solution of a x = b (MATLAB's backslash); the pseudo-inverse copes with rank loss."""
    return torch.linalg.pinv(a) @ b


def _columns(x: Tensor) -> Tensor:
    """(1, C, H, W) -> (H W, C)."""
    return x[0].reshape(x.shape[1], -1).T


def _image(cols: Tensor, like: Tensor) -> Tensor:
    """(H W, C) -> (1, C, H, W) on the grid of ``like``."""
    return cols.T.reshape(1, cols.shape[1], *like.shape[-2:])


def interp23tap(x: Tensor, *, ratio: int) -> Tensor:
    """Upsample by a power of two with the toolbox's 23-tap polynomial interpolator.

    Each stage doubles the size: zero insertion, then the separable 23-tap half-band filter
    with circular borders (``interp23tap.m``; Aiazzi et al. 2002, 2013). The first stage puts
    the samples on the odd positions, the later ones on the even, so that pixel i lands on
    ``ratio * i + ratio // 2``. The toolbox loops ``ratio / 2`` times, which is log2(ratio)
    only for ratios 2 and 4; we loop log2(ratio) times.

    Args:
        x: (B, C, h, w) image.
        ratio: a power of two.

    Returns:
        (B, C, h ratio, w ratio) in the dtype and on the device of ``x``.

    Raises:
        ValueError: for a ratio that is not a power of two, or a non-4-D input.

    Example:
        >>> y = interp23tap(torch.ones(1, 2, 3, 5), ratio=4)
        >>> y.shape, bool(torch.allclose(y, torch.ones(()), atol=1e-6))
        (torch.Size([1, 2, 12, 20]), True)
    """
    ratio = _check_int(ratio, "ratio")
    if ratio & (ratio - 1):
        raise ValueError(f"interp23tap needs a power-of-two ratio, got {ratio}; use upsample='bicubic'")
    if x.ndim != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    half = torch.tensor(_CDF23_HALF, dtype=torch.float64) * 2
    kernel = torch.cat([half[1:].flip(0), half])
    for stage in range(int(math.log2(ratio))):
        b, c, h, w = x.shape
        up = x.new_zeros(b, c, 2 * h, 2 * w)
        off = 1 if stage == 0 else 0
        up[..., off::2, off::2] = x
        x = _separable(up, kernel, "circular")
    return x


def _upsample(ms: Tensor, ratio: int, how: Upsample) -> Tensor:
    _choice(how, "upsample", ("interp23tap", "bicubic"))
    return interp23tap(ms, ratio=ratio) if how == "interp23tap" else imresize(ms, scale=ratio)


def _inputs(ms: Tensor, pan: Tensor, ratio: int, upsample: Upsample) -> tuple[Tensor, Tensor, Tensor]:
    """Check; returns the upsampled MS, the PAN and the MS, in the work dtype."""
    ratio = _check_int(ratio, "ratio")
    _check_single(ms, "ms")
    _check_single(pan, "pan")
    if pan.shape[1] != 1:
        raise ValueError(f"pan must have one band, got {pan.shape[1]}")
    _check_pair(ms, pan, ratio, ("ms", "pan"), "ratio")
    if pan.device != ms.device:
        raise ValueError(f"ms is on {ms.device} and pan on {pan.device}: put them on one device")
    dtype = _work_dtype(ms)
    ms_w, pan_w = ms.to(dtype), pan.to(dtype)
    return _upsample(ms_w, ratio, upsample), pan_w, ms_w


def _decimate(x: Tensor, ratio: int, how: Upsample) -> Tensor:
    """Sample the MS grid that the interpolator ``how`` assumes.

    ``"interp23tap"``: pixel ``ratio // 2`` of every block (MATLAB's ``imresize(x, 1/ratio,
    'nearest')``, as the toolbox); ``"bicubic"``: the block centres, by cubic interpolation
    (``imresize`` without antialiasing), so that the interpolation back is not shifted.
    """
    if how == "bicubic":
        return imresize(x, scale=1 / ratio, antialiasing=False)
    o = ratio // 2
    return x[..., o::ratio, o::ratio]


def _b3_lowpass(x: Tensor, ratio: int) -> Tensor:
    """Our reading of ``LPfilterPlusDec.m`` before its decimation: Starck and Murtagh's filter bank.

    The toolbox runs MATLAB's ``ndwt2`` (which does not dilate its filters) for ceil(log2(ratio))
    levels with the B3-spline low-pass, zeroes the details and inverts with ``indwt2``: per level,
    the B3 kernel once for analysis and once for synthesis, i.e. 2 ceil(log2(ratio)) passes of
    the plain B3 kernel (gain about 0.28 at the MS Nyquist frequency for ratio 4). Borders are
    symmetric; the toolbox's growing-and-cropping border handling is not reproduced.
    """
    b3 = torch.tensor(_B3, dtype=torch.float64)
    for _ in range(2 * max(1, math.ceil(math.log2(ratio)))):
        x = _separable(x, b3, "symmetric")
    return x


# --------------------------------------------------------------------------- methods


def exp(ms: Tensor, pan: Tensor, *, ratio: int, upsample: Upsample = "interp23tap") -> Tensor:
    """EXP: the MS interpolated to the PAN's grid, no PAN used (the toolbox's reference).

    Args:
        ms: (1, C, h, w) multispectral image.
        pan: (1, 1, h ratio, w ratio) panchromatic image (checked, not used).
        ratio: resolution ratio.
        upsample: ``"interp23tap"`` (toolbox; power-of-two ratios) or ``"bicubic"`` (MATLAB imresize).

    Returns:
        (1, C, h ratio, w ratio), the MS's dtype.

    Raises:
        ValueError: for mismatched sizes, a multi-band PAN, a bad ratio or option.

    Example:
        >>> exp(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4).shape
        torch.Size([1, 4, 32, 32])
    """
    ms_up, _, _ = _inputs(ms, pan, ratio, upsample)
    return ms_up.to(_out_dtype(ms))


def brovey(ms: Tensor, pan: Tensor, *, ratio: int, upsample: Upsample = "interp23tap") -> Tensor:
    """Brovey transform: x_i = MS_i * P / I with I the band mean and P the PAN equalised to I.

    The toolbox's BT scheme (Gillespie et al. 1987; Vivone et al. 2015; its ``Brovey.m`` is not in
    the copy we read, only ``BroveyRegHazeMin.m``): P = (PAN - mean) std(I) / std(PAN) + mean(I);
    ``eps`` guards the division.

    Args and Returns: as :func:`exp`.

    Example:
        >>> brovey(torch.rand(1, 3, 8, 8), torch.rand(1, 1, 16, 16), ratio=2).shape
        torch.Size([1, 3, 16, 16])
    """
    ms_up, p, _ = _inputs(ms, pan, ratio, upsample)
    intensity = ms_up.mean(dim=1, keepdim=True)
    p = _equalise(p, intensity)
    out = ms_up * (p / (intensity + torch.finfo(p.dtype).eps))
    return out.to(_out_dtype(ms))


def pca(ms: Tensor, pan: Tensor, *, ratio: int, upsample: Upsample = "interp23tap") -> Tensor:
    """PCA substitution: the first principal component of the MS is replaced by the PAN.

    Follows ``PCA.m`` (Chavez and Kwarteng 1989): principal components of the centred upsampled
    MS, the PAN equalised (mean, std) to the first component, inverse transform, then each
    band's mean set back to the MS's. Deviation: the first component's loadings are signed so
    that they sum to a positive number (MATLAB's ``pca`` signs each by its largest loading), so
    that the PAN is never substituted with its contrast inverted.

    Args and Returns: as :func:`exp`.

    Example:
        >>> pca(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4).shape
        torch.Size([1, 4, 32, 32])
    """
    ms_up, p, _ = _inputs(ms, pan, ratio, upsample)
    cols = _columns(ms_up)
    centred = cols - cols.mean(dim=0, keepdim=True)
    cov = centred.T @ centred / max(cols.shape[0] - 1, 1)
    _, vectors = torch.linalg.eigh(cov)
    w = vectors.flip(1)  # descending variance
    if w[:, 0].sum() < 0:
        w[:, 0] = -w[:, 0]
    scores = centred @ w
    first = scores[:, :1]
    pc = p.reshape(-1, 1)
    scores[:, :1] = (pc - pc.mean()) * (first.std() / _nonzero(pc.std())) + first.mean()
    out = _image(scores @ w.T, ms_up)
    out = out - _mean(out) + _mean(ms_up)
    return out.to(_out_dtype(ms))


def _gram_schmidt(ms_up: Tensor, intensity: Tensor, p0: Tensor) -> Tensor:
    """The GS injection shared by GS and GSA: x_i = MS_i + g_i (P - I), g_i = cov(I, MS_i) / var(I).

    ``intensity`` and ``p0`` are zero-mean; the result keeps each band's mean (the toolbox's final
    mean equalisation).
    """
    centred = ms_up - _mean(ms_up)
    out = centred + _gain(centred, intensity) * (p0 - intensity)
    return out - _mean(out) + _mean(ms_up)


def gs(ms: Tensor, pan: Tensor, *, ratio: int, upsample: Upsample = "interp23tap") -> Tensor:
    """Gram-Schmidt substitution, mode 1: the intensity is the mean of the upsampled MS bands.

    Follows ``GS.m`` (Laben and Brower 2000; Aiazzi et al. 2007): I0 = mean_i(MS_i) - its mean,
    the PAN equalised to I0 (mean, std), x_i = MS_i + cov(I0, MS_i) / var(I0) (P - I0).

    Args and Returns: as :func:`exp`.

    Example:
        >>> gs(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4).shape
        torch.Size([1, 4, 32, 32])
    """
    ms_up, p, _ = _inputs(ms, pan, ratio, upsample)
    centred = ms_up - _mean(ms_up)
    i0 = centred.mean(dim=1, keepdim=True)
    i0 = i0 - _mean(i0)
    p0 = _equalise(p, i0)
    return _gram_schmidt(ms_up, i0, p0).to(_out_dtype(ms))


def gsa(ms: Tensor, pan: Tensor, *, ratio: int, upsample: Upsample = "interp23tap") -> Tensor:
    """Adaptive Gram-Schmidt: the intensity weights come from a regression of the degraded PAN.

    Follows ``GSA.m`` and ``estimation_alpha.m`` (global; Aiazzi et al. 2007): the zero-mean
    PAN is low-passed and decimated to the MS grid, regressed on the zero-mean MS bands and a
    constant (least squares), and the weights applied to the upsampled MS give the intensity I;
    then x_i = MS_i + cov(I0, MS_i) / var(I0) (PAN0 - I0), without equalising the PAN. The low
    pass is our reading of ``LPfilterPlusDec.m`` (Starck and Murtagh's B3-spline filter bank;
    see :func:`_b3_lowpass`); the decimation keeps pixel ``ratio // 2`` (with ``upsample="bicubic"``
    it samples the block centres instead).

    Args and Returns: as :func:`exp`.

    Example:
        >>> gsa(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4).shape
        torch.Size([1, 4, 32, 32])
    """
    ms_up, p, ms_lr = _inputs(ms, pan, ratio, upsample)
    p0 = p - _mean(p)
    p_lr = _decimate(_b3_lowpass(p0, ratio), ratio, upsample)
    ones_lr = ms_lr.new_ones(ms_lr.shape[-2] * ms_lr.shape[-1], 1)
    alpha = _lstsq(torch.cat([_columns(ms_lr - _mean(ms_lr)), ones_lr], dim=1), p_lr.reshape(-1, 1))
    ones_hr = ms_up.new_ones(ms_up.shape[-2] * ms_up.shape[-1], 1)
    intensity = _image(torch.cat([_columns(ms_up - _mean(ms_up)), ones_hr], dim=1) @ alpha, ms_up)
    return _gram_schmidt(ms_up, intensity - _mean(intensity), p0).to(_out_dtype(ms))


def _check_sensor(sensor: str, bands: int) -> list[float]:
    if not isinstance(sensor, str):
        raise ValueError(f"sensor must be a string, got {type(sensor).__name__}")
    return sensor_gnyq(sensor, bands)


def _pan_lowpass(p: Tensor, ratio: int, gains: list[float], upsample: Upsample) -> Tensor:
    """The GLP low-pass of each band of p: MTF filter, decimation, interpolation back."""
    return _upsample(_decimate(mtf_filter(p, ratio, gains), ratio, upsample), ratio, upsample)


def mtf_glp(
    ms: Tensor,
    pan: Tensor,
    *,
    ratio: int,
    sensor: str = "none",
    injection: Injection = "regression",
    upsample: Upsample = "interp23tap",
) -> Tensor:
    """MTF-GLP: x_i = MS_i + g_i (P - P_L,i), P_L,i the PAN through band i's MTF-matched GLP low-pass.

    The low-pass filters the PAN with the band's MTF-matched Gaussian (``genMTF.m``, gains of
    :func:`gdd.sensors.sensor_gnyq`), decimates it (pixel ``ratio // 2``; block centres with
    ``upsample="bicubic"``) and interpolates it back (Aiazzi et al. 2002, 2006).
    ``injection="regression"`` uses the toolbox's regression gains g_i = cov(MS_i, P_L,i) /
    var(P_L,i) on the raw PAN (``GS2_GLP.m``); ``"unit"`` is ``MTF_GLP.m`` (version 2): g_i = 1
    on a PAN equalised per band to mean(MS_i) and std(MS_i) / std(LPfilterGauss(PAN)).

    Args:
        ms, pan, ratio, upsample: as :func:`exp`.
        sensor: a key of :data:`gdd.sensors.SENSORS`; its band count must match the MS's.
        injection: ``"regression"`` or ``"unit"``.

    Returns:
        (1, C, h ratio, w ratio), the MS's dtype.

    Raises:
        ValueError: as :func:`exp`; for an unknown sensor, a band count the sensor does not have,
            or an unknown injection.

    Example:
        >>> mtf_glp(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4, sensor="QB").shape
        torch.Size([1, 4, 32, 32])
    """
    _choice(injection, "injection", ("regression", "unit"))
    ms_up, p, _ = _inputs(ms, pan, ratio, upsample)
    c = ms_up.shape[1]
    gains = _check_sensor(sensor, c)
    p = p.expand(1, c, *p.shape[-2:])
    if injection == "unit":
        p = _equalise(p, ms_up, spread=_std(mtf_filter(p, ratio, [0.3])))
    p_low = _pan_lowpass(p, ratio, gains, upsample)
    g = _gain(ms_up, p_low) if injection == "regression" else 1.0
    return (ms_up + g * (p - p_low)).to(_out_dtype(ms))


def mtf_glp_hpm(
    ms: Tensor, pan: Tensor, *, ratio: int, sensor: str = "none", upsample: Upsample = "interp23tap"
) -> Tensor:
    """MTF-GLP with high-pass modulation: x_i = MS_i * P_i / P_L,i.

    Follows ``MTF_GLP_HPM.m`` (Aiazzi et al. 2003): P_i the PAN equalised per band to mean(MS_i)
    and std(MS_i) / std(LPfilterGauss(PAN)), P_L,i its MTF-matched GLP low-pass (as
    :func:`mtf_glp`); the toolbox's ``eps`` guards the division.

    Args, Returns and Raises: as :func:`mtf_glp` (no injection option).

    Example:
        >>> mtf_glp_hpm(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4).shape
        torch.Size([1, 4, 32, 32])
    """
    ms_up, p, _ = _inputs(ms, pan, ratio, upsample)
    c = ms_up.shape[1]
    gains = _check_sensor(sensor, c)
    p = p.expand(1, c, *p.shape[-2:])
    p = _equalise(p, ms_up, spread=_std(mtf_filter(p, ratio, [0.3])))
    p_low = _pan_lowpass(p, ratio, gains, upsample)
    return (ms_up * (p / (p_low + torch.finfo(p.dtype).eps))).to(_out_dtype(ms))


def sfim(ms: Tensor, pan: Tensor, *, ratio: int, upsample: Upsample = "interp23tap") -> Tensor:
    """SFIM, smoothing filter-based intensity modulation: x_i = MS_i * P_i / box(P_i).

    The toolbox's SFIM/HPM scheme (Liu 2000; Vivone et al. 2015; read from an ``HPM.m`` variant of
    it, the DLPan copy has no ``SFIM.m``): P_i the PAN equalised
    per band to the mean and std of MS_i, box(.) a ratio x ratio mean filter with replicated
    borders, widened to ratio + 1 for even ratios so that it stays centred (as the toolbox does);
    the toolbox's ``eps`` guards the division.

    Args and Returns: as :func:`exp`.

    Example:
        >>> sfim(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4).shape
        torch.Size([1, 4, 32, 32])
    """
    ms_up, p, _ = _inputs(ms, pan, ratio, upsample)
    p = _equalise(p.expand(1, ms_up.shape[1], *p.shape[-2:]), ms_up)
    size = ratio + 1 if ratio % 2 == 0 else ratio
    return (ms_up * (p / (_box(p, size) + torch.finfo(p.dtype).eps))).to(_out_dtype(ms))
