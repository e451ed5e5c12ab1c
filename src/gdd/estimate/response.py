"""The spectral response R of a pair with the blur known, and the residual of any (R, S).

With S fixed, R y_lr = S guide is linear in R: one non-negative, smoothness-penalised least-squares
problem per guide band (:func:`estimate_srf`). :func:`pair_residual` says how much of the
degraded guide a response leaves unexplained, the consistency check of every estimate.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from ..operators import KernelDownsample, LinearOperator
from .kernel import block_kernel
from .lstsq import (
    as_float64,
    check_pair,
    check_smoothness,
    fit_penalised,
    interior_crop,
    quadrant_folds,
    residuals,
    response_float64,
    second_differences,
    to_like,
)

__all__ = ["estimate_srf", "fit_response", "pair_residual", "support_mask"]


def support_mask(support: Tensor | np.ndarray | None, k: int, c: int) -> np.ndarray:
    """The (K, C) bool support of a response (all True when None), each row with at least one True.

    Raises:
        ValueError: a mask of the wrong shape or with an empty row.
    """
    if support is None:
        return np.ones((k, c), dtype=bool)
    s = np.asarray(torch.as_tensor(support).cpu())
    if s.shape != (k, c):
        raise ValueError(f"support must be a ({k}, {c}) mask of guide bands x HS bands, got shape {s.shape}")
    s = s.astype(bool)
    if not s.any(axis=1).all():
        raise ValueError(
            f"every guide band needs at least one HS band in its support; rows {np.flatnonzero(~s.any(1)).tolist()} "
            "are empty"
        )
    return s


def fit_response(
    y_lr: np.ndarray, target: np.ndarray, support: np.ndarray, smoothness: float | str, folds: np.ndarray
) -> np.ndarray:
    """Per guide band: min ||y_lr^T r - t||^2 + lam ||D2 r||^2, r >= 0 on the support, 0 off it."""
    srf = np.zeros((target.shape[0], y_lr.shape[0]))
    for k in range(target.shape[0]):
        cols = np.flatnonzero(support[k])
        d = second_differences(cols.size)
        srf[k, cols] = fit_penalised(y_lr[cols].T, target[k], folds, d.T @ d, smoothness, unit_sum=None)
    return srf


def estimate_srf(
    y_lr: Tensor,
    guide: Tensor,
    factor: int,
    *,
    spatial: LinearOperator | None = None,
    support: Tensor | np.ndarray | None = None,
    smoothness: float | Literal["auto"] = "auto",
) -> Tensor:
    """The (K, C) spectral response R that best maps the low-res image onto the degraded guide.

    Solves, for each guide band k,  min_{r >= 0}  ||S guide_k - r^T y_lr||^2 + lam ||D2 r||^2,
    with D2 the second differences across the C bands and lam = ``smoothness`` * mean squared
    column norm of y_lr (so that the option does not depend on the image's size or scale), and
    r = 0 outside the band's ``support``. With ``smoothness="auto"`` the weight is chosen per
    band among 1e-10 ... 1e-2 by cross-validation over the four quadrants of the image (noise
    in y_lr calls for more smoothing; a noise-free pair for almost none). Only low-resolution
    pixels whose footprint lies inside the image are used. Rows are not normalised: they map the
    low-res image's units to the guide's.

    Args:
        y_lr: (1, C, h, w) low-resolution HS image.
        guide: (1, K, h f, w f) high-resolution guide.
        factor: resolution ratio f.
        spatial: S, the operator that degrades the guide to the low resolution (default: the
            block average).
        support: (K, C) bool mask, True where guide band k may respond to HS band c.
        smoothness: weight of the second-difference penalty (0: none), or ``"auto"``.

    Returns:
        (K, C) on the guide's device and dtype.

    Raises:
        ValueError: sizes that do not fit the factor, a support of the wrong shape or with an
            empty row, a negative smoothness.

    Example:
        >>> x = torch.rand(1, 5, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> r = torch.tensor([[0.2, 0.3, 0.5, 0.0, 0.0], [0.0, 0.0, 0.2, 0.4, 0.4]])
        >>> y_lr, guide = torch.nn.functional.avg_pool2d(x, 4), torch.einsum("kc,bchw->bkhw", r, x)
        >>> bool((estimate_srf(y_lr, guide, 4, smoothness=0) - r).abs().max() < 1e-6)
        True
    """
    lr, hr, factor = check_pair(y_lr, guide, factor, ("y_lr", "guide"))
    check_smoothness(smoothness)
    k, c = hr.shape[1], lr.shape[1]
    mask = support_mask(support, k, c)
    op = spatial if spatial is not None else KernelDownsample(block_kernel(factor), factor)
    target = op(hr)
    rows, cols = interior_crop(op, lr.shape[-2], lr.shape[-1], factor)
    t = target[0][:, rows, cols].reshape(k, -1).numpy()
    a = lr[0][:, rows, cols].reshape(c, -1).numpy()
    folds = quadrant_folds(*lr[0][0, rows, cols].shape)
    return to_like(fit_response(a, t, mask, smoothness, folds), guide)


def pair_residual(y_lr: Tensor, guide: Tensor, srf: Tensor, spatial: LinearOperator) -> tuple[float, tuple[float, ...]]:
    """How much of the degraded guide a response leaves unexplained: ||R y_lr - S guide|| / ||S guide - mean||.

    Computed over all guide bands and per band, each band's mean removed in the denominator
    (so a constant offset counts as unexplained), over the low-resolution pixels whose
    footprint lies inside the image (for a :class:`gdd.operators.KernelDownsample`).

    Args:
        y_lr: (1, C, h, w) low-resolution image.
        guide: (1, K, h f, w f) guide.
        srf: (K, C) response.
        spatial: S, the operator from the guide's grid to the low resolution.

    Returns:
        (over all bands, per band).

    Example:
        >>> x = torch.rand(1, 2, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> op = KernelDownsample(block_kernel(2), 2)
        >>> pair_residual(op(x), x, torch.eye(2), op)[0] < 1e-6
        True
    """
    lr, hr = as_float64(y_lr, "y_lr"), as_float64(guide, "guide")
    r = response_float64(srf, hr.shape[1], lr.shape[1])
    factor = hr.shape[-1] // max(lr.shape[-1], 1)
    target = spatial(hr)
    if target.shape[-2:] != lr.shape[-2:]:
        raise ValueError(f"the degraded guide is {tuple(target.shape[-2:])}, the low-res image {tuple(lr.shape[-2:])}")
    rows, cols = interior_crop(spatial, lr.shape[-2], lr.shape[-1], factor)
    k = hr.shape[1]
    t = target[0][:, rows, cols].reshape(k, -1).numpy()
    fit = torch.einsum("kc,chw->khw", r, lr[0][:, rows, cols]).reshape(k, -1).numpy()
    return residuals(fit, t)
