"""Quality indices of a fused image, computed as the field's toolboxes compute them.

With a reference (reduced-resolution protocol, Wald): :func:`psnr`, :func:`rmse`, :func:`cc`,
:func:`ssim`, :func:`sam`, :func:`ergas`, :func:`q_index`, :func:`q2n`, :func:`scc`, gathered by
:func:`reduced_resolution`. Without one (full-resolution protocol): :func:`d_lambda`,
:func:`d_s`, :func:`qnr`, :func:`d_lambda_khan`, :func:`hqnr`, gathered by
:func:`full_resolution`. Every index takes (B, C, H, W) or (C, H, W) tensors, works in float64,
and returns a float (the mean over the batch). How tables name, order and write the indices is
:mod:`gdd.metrics.labels`.
"""

from __future__ import annotations

import math

from torch import Tensor

from .labels import (
    BENCH_COLUMNS,
    COLUMNS,
    DECIMALS,
    HIGHER_IS_BETTER,
    LABELS,
    by_direction,
    format_value,
    label,
    metric_key,
)
from .noref import PanDegradation, d_lambda, d_lambda_khan, d_s, hqnr, qnr
from .reference import cc, ergas, psnr, q2n, q_index, rmse, rmse_map, sam, sam_map, scc, ssim

__all__ = [
    "BENCH_COLUMNS",
    "COLUMNS",
    "DECIMALS",
    "HIGHER_IS_BETTER",
    "LABELS",
    "by_direction",
    "cc",
    "crop_border",
    "d_lambda",
    "d_lambda_khan",
    "d_s",
    "ergas",
    "format_value",
    "full_resolution",
    "hqnr",
    "label",
    "metric_key",
    "psnr",
    "q2n",
    "q_index",
    "qnr",
    "reduced_resolution",
    "rmse",
    "rmse_map",
    "sam",
    "sam_map",
    "scc",
    "ssim",
    "summary",
]


def crop_border(x: Tensor, dim_cut: int) -> Tensor:
    """Cut the border as the toolbox's ``dim_cut`` does: rows and columns dim_cut..end-dim_cut (1-based).

    That keeps ``x[..., dim_cut - 1 : H - dim_cut, dim_cut - 1 : W - dim_cut]``: ``dim_cut - 1``
    pixels go at the top and left, ``dim_cut`` at the bottom and right. ``dim_cut=0`` keeps all.

    Example:
        >>> import torch
        >>> crop_border(torch.zeros(1, 1, 10, 10), 2).shape
        torch.Size([1, 1, 7, 7])
    """
    if isinstance(dim_cut, bool) or int(dim_cut) != dim_cut or dim_cut < 0:
        raise ValueError(f"dim_cut must be a non-negative integer, got {dim_cut!r}")
    if dim_cut == 0:
        return x
    h, w = x.shape[-2:]
    if h < 2 * dim_cut + 1 or w < 2 * dim_cut + 1:
        raise ValueError(f"dim_cut {dim_cut} leaves nothing of a {h} x {w} image")
    return x[..., dim_cut - 1 : h - dim_cut, dim_cut - 1 : w - dim_cut]


def _clip(x: Tensor, clip: float | None) -> Tensor:
    if clip is None:
        return x
    if not clip > 0:
        raise ValueError(f"clip must be positive, got {clip}")
    return x.clamp(0, clip)


def _optional(fn: object, *args: Tensor, **kwargs: object) -> float | None:
    """An index that needs more pixels than the image has (a block index on a tiny image) is None."""
    try:
        return fn(*args, **kwargs)  # type: ignore[operator, no-any-return]
    except ValueError:
        if min(args[0].shape[-2:]) >= 32:
            raise
        return None


def reduced_resolution(
    x: Tensor,
    ref: Tensor,
    *,
    ratio: float,
    data_range: float = 1.0,
    dim_cut: int = 0,
    clip: float | None = None,
    block_size: int = 32,
) -> dict[str, float | None]:
    """Every full-reference index of an estimate against its reference.

    Args:
        x: the estimate, (B, C, H, W) or (C, H, W).
        ref: the reference (ground truth), same shape.
        ratio: resolution ratio, for ERGAS.
        data_range: the peak of the images for PSNR and SSIM (1.0 for [0, 1] images; e.g.
            2047 for 11-bit digital numbers).
        dim_cut: the toolbox's border cut (see :func:`crop_border`), applied to both images.
        clip: when given, the estimate is clipped to [0, clip] first (the toolbox's
            ``th_values`` with clip = 2^L).
        block_size: the block of Q and Q2n (32 in the toolbox).

    Returns:
        psnr (global), psnr_bands (mean per band), rmse, cc, ssim, sam (degrees), ergas, q, q2n,
        scc; a block index is None when the image is smaller than its block.
    """
    x, ref = crop_border(x, dim_cut), crop_border(ref, dim_cut)
    x = _clip(x, clip)
    out: dict[str, float | None] = {
        "psnr": psnr(x, ref, data_range=data_range),
        "psnr_bands": psnr(x, ref, data_range=data_range, per_band=True),
        "ssim": _optional(ssim, x, ref, data_range=data_range),
        "sam": sam(x, ref),
        "ergas": ergas(x, ref, ratio=ratio),
        "q": _optional(q_index, x, ref, block_size=block_size),
        "q2n": _optional(q2n, x, ref, block_size=block_size),
        "scc": _optional(scc, x, ref),
        "cc": cc(x, ref),
        "rmse": rmse(x, ref),
    }
    return out


def full_resolution(
    fused: Tensor,
    ms: Tensor,
    pan: Tensor,
    *,
    ratio: int,
    sensor: str = "none",
    pan_lr: Tensor | None = None,
    pan_degradation: PanDegradation = "mtf",
    block_size: int = 32,
    alpha: float = 1.0,
    beta: float = 1.0,
    clip: float | None = None,
) -> dict[str, float | None]:
    """Every no-reference index of a pansharpened image: D_lambda, D_s, QNR, Khan's D_lambda, HQNR.

    See :mod:`gdd.metrics.noref` for the protocol; ``clip`` as in :func:`reduced_resolution`.
    """
    fused = _clip(fused, clip)
    q = qnr(
        fused,
        ms,
        pan,
        ratio=ratio,
        pan_lr=pan_lr,
        sensor=sensor,
        pan_degradation=pan_degradation,
        block_size=block_size,
        alpha=alpha,
        beta=beta,
    )
    dk = d_lambda_khan(fused, ms, ratio=ratio, sensor=sensor, block_size=block_size)
    return {
        "d_lambda": q["d_lambda"],
        "d_s": q["d_s"],
        "qnr": q["qnr"],
        "d_lambda_khan": dk,
        "hqnr": (1 - dk) ** alpha * (1 - q["d_s"]) ** beta,
    }


def summary(x: Tensor, ref: Tensor, *, ratio: float, data_range: float = 1.0) -> dict[str, float]:
    """PSNR, SAM, ERGAS and RMSE in one dict (the quick report of the fusion commands)."""
    out = {
        "psnr": psnr(x, ref, data_range=data_range),
        "sam": sam(x, ref),
        "ergas": ergas(x, ref, ratio=ratio),
        "rmse": rmse(x, ref),
    }
    return {k: (float("inf") if math.isinf(v) else v) for k, v in out.items()}
