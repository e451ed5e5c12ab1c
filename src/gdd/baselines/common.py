"""What the classic methods share: checks, filters, band statistics, regressions, up- and downsampling.

The building blocks of Vivone et al.'s toolbox as the pansharpening methods
(:mod:`gdd.baselines.pansharpening`) and the HS + MS fusion methods (:mod:`gdd.baselines.hs`) use
them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..operators import imresize

__all__ = [
    "MAX_GAIN",
    "Injection",
    "PadMode",
    "Upsample",
    "b3_lowpass",
    "band_cov",
    "band_mean",
    "band_std",
    "box_filter",
    "check_choice",
    "check_int",
    "check_pair",
    "check_single",
    "decimate_to",
    "deviation",
    "equalise",
    "from_columns",
    "gram_schmidt",
    "injection_gain",
    "interp23tap",
    "is_flat",
    "lstsq",
    "modulate",
    "nonzero",
    "out_dtype",
    "pad_index",
    "prepare_inputs",
    "separable_filter",
    "to_columns",
    "upsample_ms",
    "work_dtype",
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

# The largest gain of a multiplicative injection (see :func:`modulate`). The equalisation makes
# the gain x / den 1 on average. On the shared cases where the denominator stays a positive level
# (SFIM and Brovey on pan_im4, its crop, Landsat-7; SFIM-HS on the CAVE crop of 64) its 99.99th
# percentile is at most 4.2 and a bound of 4 changes at most 0.014 % of the pixels, no PSNR by
# 0.01 dB; where the denominator crosses zero it reaches tens to hundreds (pan_im4's MTF-GLP-HPM,
# WorldView-3's Brovey).
MAX_GAIN = 4.0


def work_dtype(x: Tensor) -> torch.dtype:
    return torch.float32 if x.device.type == "mps" else torch.float64


def out_dtype(x: Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.float32


def check_int(value: int, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_single(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a (1, C, H, W) tensor, got {shape}")
    if x.shape[1] < 1 or x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")


def check_pair(lr: Tensor, hr: Tensor, factor: int, names: tuple[str, str], what: str) -> None:
    h, w = lr.shape[-2:]
    if hr.shape[-2:] != (h * factor, w * factor):
        raise ValueError(
            f"{names[1]} is {hr.shape[-2]} x {hr.shape[-1]} but {names[0]} is {h} x {w}: with {what} {factor} "
            f"{names[1]} must be {h * factor} x {w * factor}"
        )


def check_choice(value: str, name: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")


def pad_index(n: int, before: int, after: int, mode: PadMode, device: torch.device) -> Tensor:
    """Indices that pad a length-n axis, for any pad width (torch's own padding caps it at n)."""
    i = torch.arange(-before, n + after, device=device)
    if mode == "replicate":
        return i.clamp(0, n - 1)
    if mode == "circular":
        return i % n
    j = i % (2 * n)  # MATLAB 'symmetric': the edge sample is repeated
    return torch.where(j < n, j, 2 * n - 1 - j)


def separable_filter(x: Tensor, kernel: Tensor, mode: PadMode) -> Tensor:
    """Filter each band of (B, C, H, W) with the outer product of an odd 1-D kernel with itself."""
    b, c, h, w = x.shape
    p = (kernel.numel() - 1) // 2
    xp = x[..., pad_index(h, p, p, mode, x.device), :][..., pad_index(w, p, p, mode, x.device)]
    k = kernel.to(x)
    y = F.conv2d(xp.reshape(b * c, 1, h + 2 * p, w + 2 * p), k.view(1, 1, -1, 1))
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    return y.reshape(b, c, h, w)


def box_filter(x: Tensor, size: int) -> Tensor:
    """Mean over a size x size window (odd size), borders replicated."""
    return separable_filter(x, torch.full((size,), 1.0 / size, dtype=torch.float64), "replicate")


def band_mean(x: Tensor) -> Tensor:
    return x.mean(dim=(-2, -1), keepdim=True)


def band_std(x: Tensor) -> Tensor:
    return x.std(dim=(-2, -1), keepdim=True)


def band_cov(a: Tensor, b: Tensor) -> Tensor:
    """Per-band sample covariance of two (1, C, H, W) images (broadcast over bands): (1, C, 1, 1)."""
    n = a.shape[-2] * a.shape[-1]
    return ((a - band_mean(a)) * (b - band_mean(b))).sum(dim=(-2, -1), keepdim=True) / max(n - 1, 1)


def is_flat(x: Tensor, spread: Tensor | None = None) -> Tensor:
    """Per band, whether a spread of x (its std by default) is rounding noise: at most sqrt(eps) max|x|.

    A constant band's computed mean is off by rounding, so x - mean(x) is noise of about eps |x|
    that a division by the spread (an equalisation, a regression gain) scales up to the size of
    the data; sqrt(eps) (1.5e-8 in float64) is far below any real image's contrast.
    """
    s = band_std(x) if spread is None else spread
    return s <= math.sqrt(torch.finfo(x.dtype).eps) * x.abs().amax(dim=(-2, -1), keepdim=True)


def deviation(x: Tensor) -> Tensor:
    """x - mean(x) per band, exactly 0 on a band that is constant up to rounding (:func:`is_flat`)."""
    dev = x - band_mean(x)
    return torch.where(is_flat(x), torch.zeros_like(dev), dev)


def equalise(x: Tensor, ref: Tensor, *, spread: Tensor | None = None) -> Tensor:
    """Match the mean and standard deviation of x to ``ref`` (the toolbox's equalisation).

    ``spread`` replaces std(x) in the ratio (``MTF_GLP.m`` uses the std of the PAN's low-pass).
    """
    s = band_std(x) if spread is None else spread
    # A flat x (up to rounding) has nothing to scale: it becomes mean(ref) instead of 0/0 or noise.
    return deviation(x) * (band_std(ref) / nonzero(s)) + band_mean(ref)


def nonzero(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, torch.ones_like(x))


def modulate(x: Tensor, num: Tensor, den: Tensor, *, max_gain: float = MAX_GAIN) -> Tensor:
    """Multiplicative (HPM) injection x * num / den, its gain bounded.

    The injection of Brovey, SFIM and MTF-GLP-HPM: num is the PAN equalised to the band, den its
    low-pass (or, for Brovey, the MS intensity). The toolbox computes ``x .* (num ./ (den + eps))``
    (``MTF_GLP_HPM.m``, ``SFIM.m``, ``Brovey.m``), where ``eps`` only guards an exact zero of a
    denominator it takes to be a positive radiance. The mean and standard-deviation equalisation
    breaks that on a dark band whose spread is large for its mean (pan_im4's first bands): the
    equalised PAN and its low-pass cross zero where the band does not, and the ratio reaches
    +-1e3. Written as an additive injection with the gain g = x / den,

        x * num / den = x + g (num - den),   g = x / max(den, |x| / max_gain),

    the result is the toolbox's wherever den >= |x| / max_gain (den a positive level that tracks
    x: the ordinary case, dark or bright), and elsewhere the PAN's detail num - den is injected
    with the gain +-max_gain instead of an unbounded one. Deviation from the toolbox, named in each
    method's docstring.

    Example:
        >>> num, den = torch.tensor([[[[2.0, 0.3, -0.1]]]]), torch.tensor([[[[1.0, 1e-9, -0.5]]]])
        >>> modulate(torch.ones(1, 1, 1, 3), num, den)  # the toolbox: 2, 3e8, 0.2
        tensor([[[[2.0000, 2.2000, 2.6000]]]])
    """
    # the floor at the smallest normal number keeps 0 / 0 out where x = 0 and den <= 0
    safe = torch.maximum(den, x.abs() / max_gain).clamp(min=torch.finfo(den.dtype).tiny)
    return x + x / safe * (num - den)


def injection_gain(target: Tensor, source: Tensor) -> Tensor:
    """Regression gain cov(target, source) / var(source) per band; 0 where the source is flat (toolbox: NaN).

    Flat up to rounding (:func:`is_flat`): a gain fitted to rounding noise would be of the order 1 / eps.
    """
    var = band_cov(source, source)
    flat = is_flat(source, var.clamp(min=0).sqrt())
    return torch.where(flat, torch.zeros_like(var), band_cov(target, source) / nonzero(var))


def lstsq(a: Tensor, b: Tensor) -> Tensor:
    """Least-squares solution of a x = b (MATLAB's backslash); the pseudo-inverse copes with rank loss.

    Singular values below sqrt(eps) times the largest count as zero (or pinv's default n eps where
    that is larger): the default alone keeps a column of rounding noise, e.g. a band constant up
    to rounding, and fits the target with weights of the order 1 / eps.
    """
    eps = torch.finfo(a.dtype).eps
    return torch.linalg.pinv(a, rtol=max(math.sqrt(eps), eps * max(a.shape))) @ b


def to_columns(x: Tensor) -> Tensor:
    """(1, C, H, W) -> (H W, C)."""
    return x[0].reshape(x.shape[1], -1).T


def from_columns(cols: Tensor, like: Tensor) -> Tensor:
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
    ratio = check_int(ratio, "ratio")
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
        x = separable_filter(up, kernel, "circular")
    return x


def upsample_ms(ms: Tensor, ratio: int, how: Upsample) -> Tensor:
    check_choice(how, "upsample", ("interp23tap", "bicubic"))
    return interp23tap(ms, ratio=ratio) if how == "interp23tap" else imresize(ms, scale=ratio)


def prepare_inputs(ms: Tensor, pan: Tensor, ratio: int, upsample: Upsample) -> tuple[Tensor, Tensor, Tensor]:
    """Check; returns the upsampled MS, the PAN and the MS, in the work dtype."""
    ratio = check_int(ratio, "ratio")
    check_single(ms, "ms")
    check_single(pan, "pan")
    if pan.shape[1] != 1:
        raise ValueError(f"pan must have one band, got {pan.shape[1]}")
    check_pair(ms, pan, ratio, ("ms", "pan"), "ratio")
    if pan.device != ms.device:
        raise ValueError(f"ms is on {ms.device} and pan on {pan.device}: put them on one device")
    dtype = work_dtype(ms)
    ms_w, pan_w = ms.to(dtype), pan.to(dtype)
    return upsample_ms(ms_w, ratio, upsample), pan_w, ms_w


def decimate_to(x: Tensor, ratio: int, how: Upsample) -> Tensor:
    """Sample the MS grid that the interpolator ``how`` assumes.

    ``"interp23tap"``: pixel ``ratio // 2`` of every block (MATLAB's ``imresize(x, 1/ratio,
    'nearest')``, as the toolbox); ``"bicubic"``: the block centres, by cubic interpolation
    (``imresize`` without antialiasing), so that the interpolation back is not shifted.
    """
    if how == "bicubic":
        return imresize(x, scale=1 / ratio, antialiasing=False)
    o = ratio // 2
    return x[..., o::ratio, o::ratio]


def b3_lowpass(x: Tensor, ratio: int) -> Tensor:
    """Our reading of ``LPfilterPlusDec.m`` before its decimation: Starck and Murtagh's filter bank.

    The toolbox runs MATLAB's ``ndwt2`` (which does not dilate its filters) for ceil(log2(ratio))
    levels with the B3-spline low-pass, zeroes the details and inverts with ``indwt2``: per level,
    the B3 kernel once for analysis and once for synthesis, i.e. 2 ceil(log2(ratio)) passes of
    the plain B3 kernel (gain about 0.28 at the MS Nyquist frequency for ratio 4). Borders are
    symmetric; the toolbox's growing-and-cropping border handling is not reproduced.
    """
    b3 = torch.tensor(_B3, dtype=torch.float64)
    for _ in range(2 * max(1, math.ceil(math.log2(ratio)))):
        x = separable_filter(x, b3, "symmetric")
    return x


# --------------------------------------------------------------------------- methods


def gram_schmidt(ms_up: Tensor, intensity: Tensor, p0: Tensor) -> Tensor:
    """The GS injection shared by GS and GSA: x_i = MS_i + g_i (P - I), g_i = cov(I, MS_i) / var(I).

    ``intensity`` and ``p0`` are zero-mean; the result keeps each band's mean (the toolbox's final
    mean equalisation).
    """
    centred = ms_up - band_mean(ms_up)
    out = centred + injection_gain(centred, intensity) * (p0 - intensity)
    return out - band_mean(out) + band_mean(ms_up)
