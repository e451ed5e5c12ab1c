"""The blur kernel of a pair with the response known, and the kernels' shared pieces.

The kernel k of :class:`gdd.operators.KernelDownsample` lives on the high-resolution grid and is
larger than the factor, so that a registration offset between the two images shows up as an
off-centre kernel (:func:`kernel_offset`). With R fixed, R y_lr = D(k * guide) is linear in k:
:func:`estimate_kernel` solves it with k >= 0, sum(k) = 1 and a penalty on k's first differences.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from .lstsq import (
    check_kernel_size,
    check_pair,
    check_smoothness,
    fit_penalised,
    interior,
    quadrant_folds,
    response_float64,
    to_like,
)

__all__ = ["block_kernel", "estimate_kernel", "gradient_penalty", "kernel_design", "kernel_offset"]


def block_kernel(factor: int, size: int | None = None) -> Tensor:
    """The block average as an (s, s) kernel: 1 / f^2 on the central f x f pixels, 0 around.

    Example:
        >>> block_kernel(2, 4).sum().item(), block_kernel(2, 4)[0].tolist()
        (1.0, [0.0, 0.0, 0.0, 0.0])
    """
    size = factor if size is None else size
    check_kernel_size(size, factor)
    k = torch.zeros(size, size, dtype=torch.float64)
    p = (size - factor) // 2
    k[p : p + factor, p : p + factor] = 1 / factor**2
    return k


def kernel_offset(kernel: Tensor, factor: int) -> tuple[float, float]:
    """The centroid of a kernel of :class:`gdd.operators.KernelDownsample` minus its centre, in pixels.

    Example:
        >>> kernel_offset(torch.nn.functional.pad(block_kernel(2), (1, 0, 0, 1)), 2)
        (-0.5, 0.5)
    """
    k = torch.as_tensor(kernel, dtype=torch.float64)
    t = torch.arange(k.shape[0], dtype=torch.float64) - (k.shape[0] - 1) / 2
    total = k.sum()
    return float((k.sum(1) * t).sum() / total), float((k.sum(0) * t).sum() / total)


def gradient_penalty(size: int) -> np.ndarray:
    """First differences of an (s, s) kernel across rows and columns, zero outside (so it decays)."""
    n = size * size
    idx = np.arange(n).reshape(size, size)
    rows = []
    for axis in (0, 1):
        padded = np.pad(idx, ((1, 1), (0, 0)) if axis == 0 else ((0, 0), (1, 1)), constant_values=-1)
        a = padded[:-1] if axis == 0 else padded[:, :-1]
        b = padded[1:] if axis == 0 else padded[:, 1:]
        for i, j in zip(a.ravel(), b.ravel()):
            r = np.zeros(n)
            if i >= 0:
                r[i] += 1
            if j >= 0:
                r[j] -= 1
            rows.append(r)
    return np.array(rows)


def kernel_design(hr: Tensor, factor: int, size: int) -> tuple[np.ndarray, slice, slice]:
    """The matrix of k -> D(k * guide) over the interior low-res pixels, rows (band, row, column)."""
    h, w = hr.shape[-2] // factor, hr.shape[-1] // factor
    pad = (size - factor) // 2
    rows, cols = interior(h, factor, pad, size), interior(w, factor, pad, size)
    mode = "reflect" if pad < min(hr.shape[-2:]) else "replicate"
    gp = torch.nn.functional.pad(hr, (pad,) * 4, mode=mode)[0].numpy() if pad else hr[0].numpy()
    r0, c0 = rows.start * factor, cols.start * factor
    nr, nc = len(range(h)[rows]), len(range(w)[cols])
    design = np.empty((hr.shape[1] * nr * nc, size * size))
    for a in range(size):
        for b in range(size):
            design[:, a * size + b] = gp[:, r0 + a :: factor, c0 + b :: factor][:, :nr, :nc].reshape(-1)
    return design, rows, cols


def estimate_kernel(
    y_lr: Tensor,
    guide: Tensor,
    srf: Tensor,
    factor: int,
    *,
    size: int | None = None,
    smoothness: float | Literal["auto"] = "auto",
) -> Tensor:
    """The blur kernel k of :class:`gdd.operators.KernelDownsample` that best maps the guide onto R y_lr.

    Solves  min_k ||D(k * guide) - R y_lr||^2 + lam ||grad k||^2  subject to k >= 0 and
    sum(k) = 1, over the s x s kernel on the high-resolution grid (the first differences run
    into a zero border, so the kernel decays to its edges; lam = ``smoothness`` * the mean
    squared column norm of the design; ``"auto"`` chooses it by cross-validation, as
    :func:`gdd.estimate.estimate_srf`). Only low-resolution pixels whose footprint lies inside
    the image are used.

    Args:
        y_lr: (1, C, h, w) low-resolution image.
        guide: (1, K, h f, w f) high-resolution guide.
        srf: (K, C) response (as given: its rows are not normalised).
        factor: resolution ratio f.
        size: kernel size s >= f with the parity of f (default 3 f: a Gaussian whose FWHM is f
            and an offset of a pixel or two fit).
        smoothness: weight of the first-difference penalty, or ``"auto"``.

    Returns:
        (s, s), non-negative, summing to 1, on the guide's device and dtype.

    Raises:
        ValueError: sizes that do not fit, a bad kernel size, a response of the wrong shape.

    Example:
        >>> x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> k = estimate_kernel(torch.nn.functional.avg_pool2d(x, 2), x, torch.eye(3), 2, size=4)
        >>> bool((k - block_kernel(2, 4)).abs().max() < 0.02)
        True
    """
    lr, hr, factor = check_pair(y_lr, guide, factor, ("y_lr", "guide"))
    k_bands, c = hr.shape[1], lr.shape[1]
    r = response_float64(srf, k_bands, c)
    size = 3 * factor if size is None else int(size)
    check_kernel_size(size, factor)
    check_smoothness(smoothness)
    design, rows, cols = kernel_design(hr, factor, size)
    target = torch.einsum("kc,bchw->bkhw", r, lr)[0][:, rows, cols].reshape(-1).numpy()
    folds = np.tile(quadrant_folds(len(range(lr.shape[-2])[rows]), len(range(lr.shape[-1])[cols])), k_bands)
    pen = gradient_penalty(size)
    sol = fit_penalised(design, target, folds, pen.T @ pen, smoothness, unit_sum=np.ones(size * size))
    kern = sol.reshape(size, size)
    return to_like(kern / kern.sum(), guide)
