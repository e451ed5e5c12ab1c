"""The least-squares machinery every estimate shares: checked inputs, penalised NNLS, residuals.

Each estimate of :mod:`gdd.estimate` is a linear least-squares problem with non-negative
unknowns and a smoothness penalty; this module holds what they have in common: the inputs as
float64 CPU tensors, the low-resolution pixels whose footprint lies inside the image, the
penalty matrices, the solver (Cholesky reduction + Lawson-Hanson NNLS) with the penalty's weight
cross-validated over the image's quadrants, and the residual that says whether a pair fits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import nnls
from torch import Tensor

from ..checks import positive_int, single_image
from ..operators import KernelDownsample

__all__ = [
    "CONSISTENCY_THRESHOLD",
    "SMOOTHNESS_GRID",
    "as_float64",
    "central_window",
    "check_kernel_size",
    "check_pair",
    "check_smoothness",
    "fit_penalised",
    "interior",
    "interior_crop",
    "quadrant_folds",
    "residuals",
    "response_float64",
    "second_differences",
    "solve_nonnegative",
    "to_like",
]

#: Residual (unexplained share of the degraded guide's variation) above which a pair does not
#: look consistent with the fusion model; noisy but consistent simulated pairs stay far below.
CONSISTENCY_THRESHOLD = 0.2

#: The penalty weights (relative to the data's mean squared column norm) that ``smoothness="auto"``
#: tries, choosing by four-fold cross-validation over the quadrants of the low-resolution grid.
SMOOTHNESS_GRID = tuple(10.0**e for e in range(-10, -1))


def as_float64(x: Tensor, name: str) -> Tensor:
    """One image (see :func:`gdd.checks.single_image`), detached, as float64 on the CPU."""
    return single_image(x, name).detach().to("cpu", torch.float64)


def check_pair(y_lr: Tensor, guide: Tensor, factor: int, names: tuple[str, str]) -> tuple[Tensor, Tensor, int]:
    """Both images as float64 and the factor as an int, the guide ``factor`` times the low-res image.

    Raises:
        ValueError: an image that is not one finite image or has one value everywhere, a
            factor that is no positive integer, sizes that do not fit the factor (the message
            names both with ``names``).
    """
    y_lr, guide = as_float64(y_lr, names[0]), as_float64(guide, names[1])
    for image, name in ((y_lr, names[0]), (guide, names[1])):
        if image.numel() and bool((image == image.flatten()[0]).all()):
            raise ValueError(f"{name} has one value everywhere: there is nothing to estimate from")
    factor = positive_int(factor, "factor")
    h, w = guide.shape[-2:]
    if (h, w) != (y_lr.shape[-2] * factor, y_lr.shape[-1] * factor):
        raise ValueError(
            f"{names[1]} is {h} x {w} but {names[0]} {y_lr.shape[-2]} x {y_lr.shape[-1]} times the factor "
            f"{factor} is {y_lr.shape[-2] * factor} x {y_lr.shape[-1] * factor}"
        )
    return y_lr, guide, factor


def central_window(y_lr: Tensor, guide: Tensor, factor: int, window: int | None) -> tuple[Tensor, Tensor]:
    """The central at most ``window`` x ``window`` low-resolution pixels and their guide pixels (all: None)."""
    if window is None:
        return y_lr, guide
    h, w = y_lr.shape[-2:]
    top, left = max((h - window) // 2, 0), max((w - window) // 2, 0)
    rows, cols = slice(top, top + min(h, window)), slice(left, left + min(w, window))
    hr_rows = slice(rows.start * factor, rows.stop * factor)
    hr_cols = slice(cols.start * factor, cols.stop * factor)
    return y_lr[..., rows, cols], guide[..., hr_rows, hr_cols]


def response_float64(srf: Tensor, k: int, c: int, *, columns: str = "low-res bands") -> Tensor:
    """A (K, C) response as float64 on the CPU, else ``ValueError`` naming ``columns`` (what C counts)."""
    r = torch.as_tensor(srf, dtype=torch.float64).cpu()
    if r.shape != (k, c):
        raise ValueError(f"srf must be {k} x {c} (guide bands x {columns}), got {tuple(r.shape)}")
    return r


def check_kernel_size(size: int, factor: int) -> None:
    """A kernel of :class:`gdd.operators.KernelDownsample` is at least the factor wide, with its parity."""
    if size < factor or (size - factor) % 2:
        raise ValueError(f"the kernel size must be at least the factor {factor} and have its parity, got {size}")


def check_smoothness(smoothness: float | str) -> None:
    """A penalty weight is a number >= 0 or ``"auto"``."""
    if smoothness == "auto":
        return
    if isinstance(smoothness, str) or not 0 <= float(smoothness) < math.inf:
        raise ValueError(f"smoothness must be a finite number >= 0 or 'auto', got {smoothness!r}")


def to_like(t: Tensor | np.ndarray, like: Tensor) -> Tensor:
    """An estimate on ``like``'s device and dtype (float32 when ``like`` is not floating point)."""
    dtype = like.dtype if like.is_floating_point() else torch.float32
    return torch.as_tensor(np.asarray(t)).to(device=like.device, dtype=dtype)


def interior(n_lr: int, factor: int, pad: int, size: int) -> slice:
    """Low-resolution rows whose kernel footprint stays inside the image (borders are not modelled)."""
    first = math.ceil(pad / factor)
    last = (n_lr * factor + pad - size) // factor  # f i - pad + size <= n_lr f
    if last - first + 1 < 2:
        return slice(0, n_lr)
    return slice(first, last + 1)


def fewest_rows(factor: int, pad: int, size: int) -> int:
    """The fewest low-resolution rows whose :func:`interior` holds two (fewer fall back to every row)."""
    return math.ceil(pad / factor) + 1 + math.ceil((size - pad) / factor)


def interior_crop(op: object, h: int, w: int, factor: int) -> tuple[slice, slice]:
    """The :func:`interior` rows and columns of an h x w low-res grid for a kernel operator; all for others."""
    if isinstance(op, KernelDownsample):
        s = op.kernel.shape[0]
        return interior(h, factor, op.pad, s), interior(w, factor, op.pad, s)
    return slice(0, h), slice(0, w)


def residuals(fit: np.ndarray, target: np.ndarray) -> tuple[float, tuple[float, ...]]:
    """Unexplained share of each band's variation, and over all bands; (K, n) arrays."""
    err = ((fit - target) ** 2).sum(axis=1)
    var = ((target - target.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    var = np.maximum(var, 1e-30)
    bands = tuple(float(v) for v in np.sqrt(err / var))
    return float(np.sqrt(err.sum() / var.sum())), bands


def second_differences(n: int) -> np.ndarray:
    """The (n - 2, n) matrix of second differences (a smooth response has small ones)."""
    d = np.zeros((max(n - 2, 0), n))
    for i in range(n - 2):
        d[i, i : i + 3] = (1.0, -2.0, 1.0)
    return d


def quadrant_folds(h: int, w: int) -> np.ndarray:
    """Cross-validation folds of an h x w grid: its four quadrants (neighbours are correlated)."""
    r = (np.arange(h) >= h // 2).astype(int)
    c = (np.arange(w) >= w // 2).astype(int)
    return (2 * r[:, None] + c[None, :]).reshape(-1)


def solve_nonnegative(
    q: np.ndarray, c: np.ndarray, pen: np.ndarray, lam: float, unit_sum: np.ndarray | None
) -> np.ndarray:
    """min_{x >= 0} x^T q x - 2 c^T x + lam x^T pen x  (and e^T x = 1 as a heavy penalty, e = ``unit_sum``).

    The quadratic is reduced to a square least-squares problem by its Cholesky factor and solved
    by Lawson-Hanson NNLS, which is exact and fast for the few hundred unknowns here.
    """
    n = q.shape[0]
    m = q + lam * pen
    scale = max(float(np.trace(m)) / n, 1e-300)
    u = cholesky(m + 1e-10 * scale * np.eye(n))  # m = u^T u
    d = solve_triangular(u, c, trans="T")
    if unit_sum is not None:
        heavy = 1e4 * math.sqrt(scale)
        u = np.vstack([u, heavy * unit_sum[None]])
        d = np.append(d, heavy)
    x, _ = nnls(u, d, maxiter=50 * n)
    return x


def fit_penalised(
    a: np.ndarray,
    b: np.ndarray,
    folds: np.ndarray,
    pen: np.ndarray,
    smoothness: float | str,
    unit_sum: np.ndarray | None,
) -> np.ndarray:
    """Non-negative penalised least squares, the penalty's weight chosen by cross-validation when "auto".

    Minimises ||a x - b||^2 + lam x^T pen x over x >= 0, with lam = ``smoothness`` * the mean
    squared column norm of ``a``; ``"auto"`` tries :data:`SMOOTHNESS_GRID`, leaving out one fold
    of rows at a time.
    """
    q, c = a.T @ a, a.T @ b
    scale = max(float(np.trace(q)) / q.shape[0], 1e-300)
    if smoothness != "auto":
        return solve_nonnegative(q, c, pen, float(smoothness) * scale, unit_sum)
    best, chosen = np.inf, SMOOTHNESS_GRID[0]
    parts = [(a[folds == f], b[folds == f]) for f in np.unique(folds)]
    # Each fold's normal equations without its rows, formed once for every weight of the grid.
    kept = [(q - af.T @ af, c - af.T @ bf) for af, bf in parts]
    for weight in SMOOTHNESS_GRID:
        err = 0.0
        for (af, bf), (qf, cf) in zip(parts, kept):
            x = solve_nonnegative(qf, cf, pen, weight * scale, unit_sum)
            err += float(((af @ x - bf) ** 2).sum())
        if err < best:
            best, chosen = err, weight
    return solve_nonnegative(q, c, pen, chosen * scale, unit_sum)
