"""Classic HS + MS fusion: GSA-HS, SFIM-HS, GLP-HS (hypersharpening) and CNMF.

Every method takes ``hsi`` (1, C, h, w), the low-resolution hyperspectral image, and ``msi``
(1, K, h f, w f), the high-resolution multispectral (or RGB) image, with ``factor`` f, and
returns (1, C, h f, w f) on the input's device in the HS image's floating dtype. The HS image is
interpolated with MATLAB's bicubic ``imresize``; ``spatial`` names how it was degraded
(``"block"`` average, ``"gaussian"`` blur, ``"bicubic"``, as :func:`gdd.operators.make_spatial`,
or an operator such as :class:`gdd.operators.KernelDownsample`).

The pansharpening methods are extended as in Yokoya et al.'s review ("Hyperspectral and
multispectral data fusion", GRSM 2017) with hypersharpening (Selva et al. 2015): each HS band gets
its own synthetic PAN, the least-squares combination (with a constant) of the MS bands whose
degraded version best fits that band. The response ``srf`` is only needed by CNMF; the others
check its shape and ignore it, so that every method of :data:`gdd.baselines.HS_FUSION` takes the
same arguments.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..operators import LinearOperator, SpatialKind, imresize, make_spatial
from .common import (
    Injection,
    band_mean,
    check_choice,
    check_int,
    check_pair,
    check_single,
    deviation,
    from_columns,
    gram_schmidt,
    injection_gain,
    is_flat,
    lstsq,
    modulate,
    out_dtype,
    separable_filter,
    to_columns,
    work_dtype,
)

__all__ = ["cnmf", "glp_hs", "gsa_hs", "sfim_hs"]


def prepare_inputs(
    hsi: Tensor, msi: Tensor, factor: int, srf: Tensor | None, spatial: SpatialKind | LinearOperator
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Check; returns hsi, msi and the (K, C) response (or None) in the work dtype."""
    factor = check_int(factor, "factor")
    if not isinstance(spatial, LinearOperator):
        check_choice(spatial, "spatial", ("block", "gaussian", "bicubic"))
    check_single(hsi, "hsi")
    check_single(msi, "msi")
    check_pair(hsi, msi, factor, ("hsi", "msi"), "factor")
    if msi.device != hsi.device:
        raise ValueError(f"hsi is on {hsi.device} and msi on {msi.device}: put them on one device")
    dtype = work_dtype(hsi)
    c, k = hsi.shape[1], msi.shape[1]
    r = None
    if srf is not None:
        r = torch.as_tensor(srf).to(device=hsi.device, dtype=dtype)
        if r.ndim == 2 and r.shape != (k, c) and r.shape == (c, k):
            r = r.T
        if r.shape != (k, c):
            raise ValueError(
                f"srf is {tuple(r.shape)} but the MS image has {k} bands and the HS image {c}: it must be {k} x {c}"
            )
        if not torch.isfinite(r).all():
            raise ValueError("srf contains NaN or Inf values")
    return hsi.to(dtype), msi.to(dtype), r


def _synthetic_pan(hs: Tensor, ms: Tensor, ms_lr: Tensor) -> Tensor:
    """Hypersharpening: per HS band, the MS bands (and a constant) regressed onto it at low resolution."""
    ones = ms_lr.new_ones(ms_lr.shape[-2] * ms_lr.shape[-1], 1)
    w = lstsq(torch.cat([to_columns(ms_lr), ones], dim=1), to_columns(hs))  # (K + 1, C)
    ones_hr = ms.new_ones(ms.shape[-2] * ms.shape[-1], 1)
    return from_columns(torch.cat([to_columns(ms), ones_hr], dim=1) @ w, ms)


def _degradation(spatial: SpatialKind | LinearOperator, factor: int, like: Tensor) -> LinearOperator:
    """The HS image's spatial degradation: by name, or an operator (an estimated kernel) as given."""
    op = spatial if isinstance(spatial, LinearOperator) else make_spatial(spatial, factor)
    return op.to(like.device)


def _prepare(
    hsi: Tensor, msi: Tensor, factor: int, srf: Tensor | None, spatial: SpatialKind | LinearOperator
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The HS image, its bicubic upsampling, the synthetic PANs and the degradation applied to them."""
    hs, ms, _ = prepare_inputs(hsi, msi, factor, srf, spatial)
    degrade = _degradation(spatial, factor, hs)
    pan = _synthetic_pan(hs, ms, degrade(ms))
    return hs, imresize(hs, scale=factor), pan, degrade(pan)


def gsa_hs(
    hsi: Tensor, msi: Tensor, *, factor: int, srf: Tensor | None = None, spatial: SpatialKind | LinearOperator = "block"
) -> Tensor:
    """GSA with one synthetic PAN per HS band (hypersharpening).

    For HS band c, P_c is its synthetic PAN (see the module); as in :func:`gsa`, the degraded
    zero-mean P_c is regressed on the zero-mean HS bands and a constant, the weights applied to the
    upsampled HS give the intensity I_c, and x_c = HS_c + cov(I_c, HS_c) / var(I_c) (P_c - I_c),
    with the band's mean kept. All C regressions share one least-squares solve.

    Args:
        hsi: (1, C, h, w) low-resolution HS image.
        msi: (1, K, h factor, w factor) high-resolution MS/RGB image.
        factor: resolution ratio.
        srf: (K, C) response (checked, not needed).
        spatial: the HS degradation: ``"block"``, ``"gaussian"`` or ``"bicubic"``.

    Returns:
        (1, C, h factor, w factor), the HS image's dtype.

    Raises:
        ValueError: for mismatched sizes, a bad factor, srf shape or option.

    Example:
        >>> gsa_hs(torch.rand(1, 6, 4, 4), torch.rand(1, 3, 16, 16), factor=4).shape
        torch.Size([1, 6, 16, 16])
    """
    hs, hs_up, pan, pan_lr = _prepare(hsi, msi, factor, srf, spatial)
    # a synthetic PAN that is constant up to rounding has no detail to regress (see is_flat)
    pan_lr = torch.where(is_flat(pan), torch.zeros_like(pan_lr), pan_lr - band_mean(pan))
    ones = hs.new_ones(hs.shape[-2] * hs.shape[-1], 1)
    alpha = lstsq(torch.cat([to_columns(hs - band_mean(hs)), ones], dim=1), to_columns(pan_lr))
    ones_hr = hs.new_ones(hs_up.shape[-2] * hs_up.shape[-1], 1)
    intensity = from_columns(torch.cat([to_columns(hs_up - band_mean(hs_up)), ones_hr], dim=1) @ alpha, hs_up)
    return gram_schmidt(hs_up, intensity - band_mean(intensity), deviation(pan)).to(out_dtype(hsi))


def _gaussian_lowpass(x: Tensor, factor: int) -> Tensor:
    """A Gaussian whose FWHM is the factor (as :class:`gdd.operators.GaussianDownsample`), not decimated."""
    sigma = factor / (2 * math.sqrt(2 * math.log(2)))
    half = max(1, math.ceil(3 * sigma))
    t = torch.arange(-half, half + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return separable_filter(x, k / k.sum(), "symmetric")


def sfim_hs(
    hsi: Tensor, msi: Tensor, *, factor: int, srf: Tensor | None = None, spatial: SpatialKind | LinearOperator = "block"
) -> Tensor:
    """SFIM with one synthetic PAN per HS band: x_c = HS_c * P_c / lowpass(P_c).

    The smoothing filter is a Gaussian whose FWHM is the factor (symmetric borders), in place of
    the pansharpening box filter. The injection's gain HS_c / lowpass(P_c) is bounded as in
    :func:`gdd.baselines.sfim` (see :func:`gdd.baselines.common.modulate`) where the toolbox's
    scheme divides by lowpass(P_c) + eps: a synthetic PAN is a regression of the MS bands, which
    crosses zero in places (the CAVE balloons crop of 128 pixels: outputs 1.3 spans beyond the
    HS image's range at factor 4, 2.8 at factor 8).

    Args, Returns and Raises: as :func:`gsa_hs`.

    Example:
        >>> sfim_hs(torch.rand(1, 6, 4, 4), torch.rand(1, 3, 16, 16), factor=4).shape
        torch.Size([1, 6, 16, 16])
    """
    _, hs_up, pan, _ = _prepare(hsi, msi, factor, srf, spatial)
    return modulate(hs_up, pan, _gaussian_lowpass(pan, factor)).to(out_dtype(hsi))


def glp_hs(
    hsi: Tensor,
    msi: Tensor,
    *,
    factor: int,
    srf: Tensor | None = None,
    spatial: SpatialKind | LinearOperator = "block",
    injection: Injection = "regression",
) -> Tensor:
    """GLP with one synthetic PAN per HS band: x_c = HS_c + g_c (P_c - P_L,c).

    The low-pass P_L,c is P_c degraded as the HS image was (``spatial``) and interpolated back
    with the same bicubic as the HS image, so that detail and HS share one grid. The gains are
    the regression gains cov(HS_c, P_L,c) / var(P_L,c) (``GS2_GLP.m``) or 1 (``injection="unit"``).

    Args:
        hsi, msi, factor, srf, spatial: as :func:`gsa_hs`.
        injection: ``"regression"`` or ``"unit"``.

    Returns and Raises: as :func:`gsa_hs`.

    Example:
        >>> glp_hs(torch.rand(1, 6, 4, 4), torch.rand(1, 3, 16, 16), factor=4).shape
        torch.Size([1, 6, 16, 16])
    """
    check_choice(injection, "injection", ("regression", "unit"))
    _, hs_up, pan, pan_lr = _prepare(hsi, msi, factor, srf, spatial)
    low = imresize(pan_lr, scale=factor)
    g = injection_gain(hs_up, low) if injection == "regression" else 1.0
    return (hs_up + g * (pan - low)).to(out_dtype(hsi))


# --------------------------------------------------------------------------- CNMF

_TINY = 1e-12


def _spa(y: Tensor, m: int) -> Tensor:
    """Successive projection algorithm: m columns of y (C, N) that span its cone (endmember init)."""
    residual = y.clone()
    picked = []
    for _ in range(m):
        j = int(residual.pow(2).sum(dim=0).argmax())
        picked.append(j)
        u = residual[:, j : j + 1]
        norm = u.pow(2).sum()
        if norm > 0:
            residual = residual - u @ (u.T @ residual) / norm
    return y[:, picked].clone()


def _update_h(w: Tensor, h: Tensor, y: Tensor) -> Tensor:
    return h * (w.T @ y) / ((w.T @ w) @ h + _TINY)


def _update_w(w: Tensor, h: Tensor, y: Tensor) -> Tensor:
    return w * (y @ h.T) / (w @ (h @ h.T) + _TINY)


def _nmf(
    y: Tensor, w: Tensor, h: Tensor, steps: int, *, fix_w: bool = False, fix_h: bool = False
) -> tuple[Tensor, Tensor]:
    """``steps`` rounds of Lee and Seung's multiplicative updates of y ~ w h; either factor may be held."""
    for _ in range(steps):
        h = h if fix_h else _update_h(w, h, y)
        w = w if fix_w else _update_w(w, h, y)
    return w, h


def _estimate_srf(hs: Tensor, ms_lr: Tensor, steps: int = 500) -> Tensor:
    """A non-negative (K, C) response with ms_lr ~ R hs, by multiplicative NNLS on the normal equations."""
    y_h, y_m = to_columns(hs).T.clamp(min=0), to_columns(ms_lr).T.clamp(min=0)
    gram, cross = y_h @ y_h.T, y_m @ y_h.T
    r = lstsq(y_h.T, y_m.T).T.clamp(min=0) + 1e-3 * cross.abs().mean() / (gram.abs().mean() + _TINY)
    for _ in range(steps):
        r = r * cross / (r @ gram + _TINY)
    return r


def cnmf(
    hsi: Tensor,
    msi: Tensor,
    *,
    factor: int,
    srf: Tensor | None = None,
    spatial: SpatialKind | LinearOperator = "block",
    endmembers: int = 10,
    iterations: int = 3,
    inner_iterations: int = 100,
) -> Tensor:
    """Coupled non-negative matrix factorisation (Yokoya et al., TGRS 2012).

    HS ~ W_h H_h and MS ~ W_m H_m, coupled by W_m = R W_h (the response) and H_h = S(H_m) (the
    spatial degradation); the result is x = W_h H_m. Endmembers W_h are initialised from the HS
    image by the successive projection algorithm (in place of VCA), the HS abundances by updates
    with W_h fixed, then HS unmixing alternates; each outer iteration then (a) sets W_m = R W_h
    and unmixes the MS image (H_m with W_m fixed, then both), (b) sets H_h = S(H_m) and unmixes
    the HS image (W_h with H_h fixed, then both). All updates are Lee and Seung's multiplicative
    ones; the sum-to-one augmentation of the paper is left out. H_m starts from H_h repeated by
    the factor and is carried over between outer iterations. Without ``srf`` the response is
    estimated by non-negative least squares of the degraded MS on the HS image; a given ``srf`` is
    rescaled per row to fit the data the same way, so normalised and raw responses both work.
    Negative input values are clipped to zero.

    Args:
        hsi, msi, factor, spatial: as :func:`gsa_hs`.
        srf: (K, C) response linking the images (msi ~ srf @ x), or None to estimate it.
        endmembers: number of endmembers.
        iterations: outer iterations.
        inner_iterations: multiplicative updates per unmixing stage.

    Returns:
        (1, C, h factor, w factor), the HS image's dtype.

    Raises:
        ValueError: as :func:`gsa_hs`; for non-positive counts.

    Example:
        >>> x = cnmf(torch.rand(1, 8, 4, 4), torch.rand(1, 3, 16, 16), factor=4, endmembers=3, iterations=1)
        >>> x.shape, bool((x >= 0).all())
        (torch.Size([1, 8, 16, 16]), True)
    """
    endmembers = check_int(endmembers, "endmembers")
    iterations = check_int(iterations, "iterations")
    inner = check_int(inner_iterations, "inner_iterations")
    hs, ms, r = prepare_inputs(hsi, msi, factor, srf, spatial)
    hs, ms = hs.clamp(min=0), ms.clamp(min=0)
    degrade = _degradation(spatial, factor, hs)
    ms_lr = degrade(ms)
    if r is None:
        r = _estimate_srf(hs, ms_lr)
    else:
        r = r.clamp(min=0)
        fit = r @ to_columns(hs).T
        target = to_columns(ms_lr).T
        r = r * ((fit * target).sum(dim=1, keepdim=True) / (fit.pow(2).sum(dim=1, keepdim=True) + _TINY))
    m = endmembers
    h, w = hs.shape[-2:]
    y_h, y_m = to_columns(hs).T, to_columns(ms).T

    w_h = _spa(y_h, m) + _TINY
    h_h = hs.new_full((m, h * w), 1.0 / m)
    _, h_h = _nmf(y_h, w_h, h_h, inner, fix_w=True)
    w_h, h_h = _nmf(y_h, w_h, h_h, inner)
    abundance_lr = h_h.reshape(1, m, h, w)
    h_m = to_columns(abundance_lr.repeat_interleave(factor, -2).repeat_interleave(factor, -1)).T.clone()
    for _ in range(iterations):
        w_m = r @ w_h
        w_m, h_m = _nmf(y_m, w_m, h_m, inner, fix_w=True)
        w_m, h_m = _nmf(y_m, w_m, h_m, inner)
        h_h = to_columns(degrade(from_columns(h_m.T, ms))).T.clamp(min=0)
        w_h, _ = _nmf(y_h, w_h, h_h, inner, fix_h=True)
        w_h, h_h = _nmf(y_h, w_h, h_h, inner)
    return from_columns((w_h @ h_m).T, ms).to(out_dtype(hsi))
