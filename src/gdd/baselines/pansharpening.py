"""Classic pansharpening: EXP, Brovey, PCA, GS, GSA, MTF-GLP, MTF-GLP-HPM, SFIM.

Our torch implementations of the methods of Vivone et al.'s toolbox ("A critical comparison
among pansharpening algorithms", TGRS 2015; the 2020 benchmark), read from its MATLAB code
(``GS.m``, ``GSA.m``, ``PCA.m``, ``MTF_GLP.m``, ``GS2_GLP.m``, ``MTF_GLP_HPM.m``, ``SFIM.m``,
``Brovey.m``, ``interp23tap.m``, ``estimation_alpha.m``, ``LPfilterPlusDec.m``,
``LPfilterGauss.m``, ``genMTF.m``). Deviations are named in each docstring.

Every method takes ``ms`` (1, C, h, w) and ``pan`` (1, 1, h r, w r) and returns (1, C, h r, w r)
on the input's device, in the MS's floating dtype (float32 for integer input). The work is done
in float64 (float32 on MPS, which has no float64). The "histogram matching" of the toolbox is a
mean and standard-deviation equalisation, as here. The multiplicative injections (Brovey, SFIM,
MTF-GLP-HPM) go through :func:`gdd.baselines.common.modulate`, which keeps the toolbox's ratio
where its denominator is a positive level that tracks the band and bounds the injection's gain
where the equalised PAN approaches zero (the toolbox's ``+ eps`` guards only an exact zero).

The MS is first interpolated to the PAN's grid, by default with the toolbox's 23-tap
interpolator (:func:`interp23tap`), which assumes that MS pixel i sits on PAN pixel
``r i + r // 2`` (MTF filtering then MATLAB's nearest decimation, the toolbox's Wald protocol);
``upsample="bicubic"`` uses MATLAB's bicubic ``imresize`` instead, which assumes block centres
(block averaging or bicubic decimation, as in :mod:`gdd.operators`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..sensors import mtf_filter, sensor_gnyq
from .common import (
    Injection,
    Upsample,
    b3_lowpass,
    band_mean,
    band_std,
    box_filter,
    check_choice,
    decimate_to,
    deviation,
    equalise,
    from_columns,
    gram_schmidt,
    injection_gain,
    interp23tap,
    lstsq,
    modulate,
    nonzero,
    out_dtype,
    prepare_inputs,
    to_columns,
    upsample_ms,
)

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
    ms_up, _, _ = prepare_inputs(ms, pan, ratio, upsample)
    return ms_up.to(out_dtype(ms))


def brovey(ms: Tensor, pan: Tensor, *, ratio: int, upsample: Upsample = "interp23tap") -> Tensor:
    """Brovey transform: x_i = MS_i * P / I with I the band mean and P the PAN equalised to I.

    Follows the toolbox's ``Brovey.m`` (Gillespie et al. 1987; Vivone et al. 2015):
    P = (PAN - mean) std(I) / std(PAN) + mean(I).
    Deviation: where the toolbox divides by I + eps, the injection's gain MS_i / I is bounded by
    :func:`~gdd.baselines.common.modulate`, so that an intensity near zero (interpolation ringing
    around the black pixels of the WorldView-3 example: outputs from -15 to 17) cannot blow up.

    Args and Returns: as :func:`exp`.

    Example:
        >>> brovey(torch.rand(1, 3, 8, 8), torch.rand(1, 1, 16, 16), ratio=2).shape
        torch.Size([1, 3, 16, 16])
    """
    ms_up, p, _ = prepare_inputs(ms, pan, ratio, upsample)
    intensity = ms_up.mean(dim=1, keepdim=True)
    return modulate(ms_up, equalise(p, intensity), intensity).to(out_dtype(ms))


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
    ms_up, p, _ = prepare_inputs(ms, pan, ratio, upsample)
    cols = to_columns(ms_up)
    centred = cols - cols.mean(dim=0, keepdim=True)
    cov = centred.T @ centred / max(cols.shape[0] - 1, 1)
    _, vectors = torch.linalg.eigh(cov)
    w = vectors.flip(1)  # descending variance
    if w[:, 0].sum() < 0:
        w[:, 0] = -w[:, 0]
    scores = centred @ w
    scores[:, :1] = to_columns(equalise(p, from_columns(scores[:, :1], ms_up)))
    out = from_columns(scores @ w.T, ms_up)
    out = out - band_mean(out) + band_mean(ms_up)
    return out.to(out_dtype(ms))


def gs(ms: Tensor, pan: Tensor, *, ratio: int, upsample: Upsample = "interp23tap") -> Tensor:
    """Gram-Schmidt substitution, mode 1: the intensity is the mean of the upsampled MS bands.

    Follows ``GS.m`` (Laben and Brower 2000; Aiazzi et al. 2007): I0 = mean_i(MS_i) - its mean,
    the PAN equalised to I0 (mean, std), x_i = MS_i + cov(I0, MS_i) / var(I0) (P - I0).

    Args and Returns: as :func:`exp`.

    Example:
        >>> gs(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4).shape
        torch.Size([1, 4, 32, 32])
    """
    ms_up, p, _ = prepare_inputs(ms, pan, ratio, upsample)
    centred = ms_up - band_mean(ms_up)
    i0 = centred.mean(dim=1, keepdim=True)
    i0 = i0 - band_mean(i0)
    p0 = equalise(p, i0)
    return gram_schmidt(ms_up, i0, p0).to(out_dtype(ms))


def gsa(ms: Tensor, pan: Tensor, *, ratio: int, upsample: Upsample = "interp23tap") -> Tensor:
    """Adaptive Gram-Schmidt: the intensity weights come from a regression of the degraded PAN.

    Follows ``GSA.m`` and ``estimation_alpha.m`` (global; Aiazzi et al. 2007): the zero-mean
    PAN is low-passed and decimated to the MS grid, regressed on the zero-mean MS bands and a
    constant (least squares), and the weights applied to the upsampled MS give the intensity I;
    then x_i = MS_i + cov(I0, MS_i) / var(I0) (PAN0 - I0), without equalising the PAN. The low
    pass is our reading of ``LPfilterPlusDec.m`` (Starck and Murtagh's B3-spline filter bank;
    see :func:`b3_lowpass`); the decimation keeps pixel ``ratio // 2`` (with ``upsample="bicubic"``
    it samples the block centres instead).

    Args and Returns: as :func:`exp`.

    Example:
        >>> gsa(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4).shape
        torch.Size([1, 4, 32, 32])
    """
    ms_up, p, ms_lr = prepare_inputs(ms, pan, ratio, upsample)
    p0 = deviation(p)
    p_lr = decimate_to(b3_lowpass(p0, ratio), ratio, upsample)
    ones_lr = ms_lr.new_ones(ms_lr.shape[-2] * ms_lr.shape[-1], 1)
    alpha = lstsq(torch.cat([to_columns(ms_lr - band_mean(ms_lr)), ones_lr], dim=1), p_lr.reshape(-1, 1))
    ones_hr = ms_up.new_ones(ms_up.shape[-2] * ms_up.shape[-1], 1)
    intensity = from_columns(torch.cat([to_columns(ms_up - band_mean(ms_up)), ones_hr], dim=1) @ alpha, ms_up)
    return gram_schmidt(ms_up, intensity - band_mean(intensity), p0).to(out_dtype(ms))


def _check_sensor(sensor: str, bands: int) -> list[float]:
    if not isinstance(sensor, str):
        raise ValueError(f"sensor must be a string, got {type(sensor).__name__}")
    return sensor_gnyq(sensor, bands)


def _pan_lowpass(pan: Tensor, ratio: int, gains: list[float], upsample: Upsample) -> Tensor:
    """GLP_i(PAN) for every band's gain: MTF filter, decimation, interpolation back; (1, C, H, W).

    The 41 x 41 MTF filter dominates the cost (about a second per band in float64 on a CPU): the
    one-band PAN is filtered once per distinct gain, not once per band.
    """
    unique = sorted(set(gains))
    low = mtf_filter(pan.expand(1, len(unique), *pan.shape[-2:]), ratio, unique)
    low = upsample_ms(decimate_to(low, ratio, upsample), ratio, upsample)
    return low[:, [unique.index(g) for g in gains]]


def _equalised_pan(
    ms_up: Tensor, pan: Tensor, ratio: int, gains: list[float], upsample: Upsample
) -> tuple[Tensor, Tensor]:
    """The PAN equalised per band as ``MTF_GLP.m`` and ``MTF_GLP_HPM.m`` do, and its GLP low-pass.

    P_i = a_i D + mean(MS_i), with D = PAN - mean(PAN) and a_i = std(MS_i) / std(LPfilterGauss(PAN)).
    The low-pass is linear, so GLP_i(P_i) = a_i GLP_i(D) + mean(MS_i) GLP_i(1): the same numbers
    as filtering each P_i (up to rounding) for one filtering of the PAN per distinct gain.
    """
    dev = deviation(pan)
    scale = band_std(ms_up) / nonzero(band_std(mtf_filter(pan, ratio, [0.3])))
    offset = band_mean(ms_up)
    # GLP_i(1): the MTF filter of a constant is its DC gain (the toolbox's taps sum to about
    # 0.998), which a one-pixel image gives; decimation keeps it and the interpolation spreads it.
    unique = sorted(set(gains))
    dc = mtf_filter(pan.new_ones(1, len(unique), 1, 1), ratio, unique)[:, [unique.index(g) for g in gains]]
    h, w = pan.shape[-2] // ratio, pan.shape[-1] // ratio
    one_low = upsample_ms(dc.expand(1, len(gains), h, w), ratio, upsample)
    return scale * dev + offset, scale * _pan_lowpass(dev, ratio, gains, upsample) + offset * one_low


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
    check_choice(injection, "injection", ("regression", "unit"))
    ms_up, p, _ = prepare_inputs(ms, pan, ratio, upsample)
    gains = _check_sensor(sensor, ms_up.shape[1])
    if injection == "unit":
        p, p_low = _equalised_pan(ms_up, p, ratio, gains, upsample)
        return (ms_up + (p - p_low)).to(out_dtype(ms))
    p_low = _pan_lowpass(p, ratio, gains, upsample)
    return (ms_up + injection_gain(ms_up, p_low) * (p - p_low)).to(out_dtype(ms))


def mtf_glp_hpm(
    ms: Tensor, pan: Tensor, *, ratio: int, sensor: str = "none", upsample: Upsample = "interp23tap"
) -> Tensor:
    """MTF-GLP with high-pass modulation: x_i = MS_i * P_i / P_L,i.

    Follows ``MTF_GLP_HPM.m`` (Aiazzi et al. 2003): P_i the PAN equalised per band to mean(MS_i)
    and std(MS_i) / std(LPfilterGauss(PAN)), P_L,i its MTF-matched GLP low-pass (as
    :func:`mtf_glp`). Deviation: where the toolbox divides by P_L,i + eps, the injection's gain
    MS_i / P_L,i is bounded by :func:`~gdd.baselines.common.modulate`. The equalisation gives the
    PAN the spread of the MS band; on a dark band whose spread is large for its mean it drives
    P_i and P_L,i across zero, and the toolbox's ratio then reaches +-1e3 (pan_im4: outputs from
    -151 to 104).

    Args, Returns and Raises: as :func:`mtf_glp` (no injection option).

    Example:
        >>> mtf_glp_hpm(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4).shape
        torch.Size([1, 4, 32, 32])
    """
    ms_up, p, _ = prepare_inputs(ms, pan, ratio, upsample)
    p, p_low = _equalised_pan(ms_up, p, ratio, _check_sensor(sensor, ms_up.shape[1]), upsample)
    return modulate(ms_up, p, p_low).to(out_dtype(ms))


def sfim(ms: Tensor, pan: Tensor, *, ratio: int, upsample: Upsample = "interp23tap") -> Tensor:
    """SFIM, smoothing filter-based intensity modulation: x_i = MS_i * P_i / box(P_i).

    Follows the toolbox's ``SFIM.m`` (Liu 2000; Vivone et al. 2015): P_i the PAN equalised per band
    to the mean and std of MS_i, box(.) a ratio x ratio mean filter with replicated
    borders, widened to ratio + 1 for even ratios so that it stays centred (as the toolbox does).
    Deviation: where the toolbox divides by box(P_i) + eps, the injection's gain MS_i / box(P_i)
    is bounded by :func:`~gdd.baselines.common.modulate`.

    Args and Returns: as :func:`exp`.

    Example:
        >>> sfim(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), ratio=4).shape
        torch.Size([1, 4, 32, 32])
    """
    ms_up, p, _ = prepare_inputs(ms, pan, ratio, upsample)
    p = equalise(p.expand(1, ms_up.shape[1], *p.shape[-2:]), ms_up)
    size = ratio + 1 if ratio % 2 == 0 else ratio
    return modulate(ms_up, p, box_filter(p, size)).to(out_dtype(ms))
