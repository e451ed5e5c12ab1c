"""The degradations of a pair, estimated from the pair: spectral response, blur kernel, MTF gain.

Fusion needs to know how each observation was made from the unknown image x: the low-resolution
image is ``y_lr = S x`` (blur and decimation) and the guide ``guide = R x`` (spectral response).
Spatial and spectral degradations commute, so the pair itself relates them without x (HySure,
Simoes et al., IEEE TGRS 2015):

    R y_lr = S guide.

With S fixed this is a linear least-squares problem in R, solved per guide band with R >= 0 and a
penalty on second differences across wavelengths (responses are smooth), optionally inside a
given support; with R fixed it is linear in the blur kernel k of S, solved with k >= 0,
sum(k) = 1 and a penalty on the kernel's first differences. With neither known the relation is
still linear in both together, and :func:`estimate_degradation` solves for both at once. The
kernel lives on the high-resolution grid and is larger than the factor, so that a registration
offset between the two images shows up as an off-centre kernel.

For pansharpening (``y_lr`` the MS image, ``guide`` the PAN) R is the PAN's band weights and S
the MS sensor's MTF (the Gaussian model of :mod:`gdd.sensors`), whose one parameter, the gain at
the Nyquist frequency, is found by a bounded scalar search (:func:`estimate_pan_degradation`).

Every estimate reports its residual: the share of the degraded guide's variation (its deviation
from each band's mean) that ``R y_lr`` leaves unexplained. A pair that fits the model leaves
little (noise, a few per cent); a large residual means the pair does not look consistent
(misregistered, different dates or scenes, a nonlinear guide) and the fusion will be poor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import lsq_linear, minimize_scalar, nnls
from torch import Tensor

from .operators import KernelDownsample, LinearOperator, MTFDownsample, single_image

__all__ = [
    "CONSISTENCY_THRESHOLD",
    "Degradation",
    "PanDegradation",
    "block_kernel",
    "estimate_degradation",
    "estimate_kernel",
    "estimate_pan_degradation",
    "estimate_srf",
    "kernel_offset",
    "pair_residual",
]

#: Residual (unexplained share of the degraded guide's variation) above which a pair does not
#: look consistent with the fusion model; noisy but consistent simulated pairs stay far below.
CONSISTENCY_THRESHOLD = 0.2

#: The penalty weights (relative to the data's mean squared column norm) that ``smoothness="auto"``
#: tries, choosing by four-fold cross-validation over the quadrants of the low-resolution grid.
_GRID = tuple(10.0**e for e in range(-10, -1))


@dataclass(frozen=True)
class Degradation:
    """The estimated degradations of an HS + guide pair (:func:`estimate_degradation`).

    Attributes:
        srf: (K, C) response: guide = srf @ x per pixel.
        kernel: (s, s) blur on the high-resolution grid (non-negative, sums to 1); with
            ``factor`` it defines :class:`gdd.operators.KernelDownsample`.
        factor: the resolution ratio.
        residual: unexplained share of the degraded guide's variation, over all bands.
        band_residuals: the same per guide band.
        offset: the kernel's centroid minus the block centre (rows, columns) in high-resolution
            pixels: the low-resolution image's registration offset relative to the guide.
    """

    srf: Tensor
    kernel: Tensor
    factor: int
    residual: float
    band_residuals: tuple[float, ...]
    offset: tuple[float, float]

    @property
    def consistent(self) -> bool:
        """Whether the residual is under :data:`CONSISTENCY_THRESHOLD`."""
        return self.residual < CONSISTENCY_THRESHOLD


@dataclass(frozen=True)
class PanDegradation:
    """The estimated degradations of an MS + PAN pair (:func:`estimate_pan_degradation`).

    Attributes:
        weights: (C,) PAN band weights: PAN = weights @ x + intercept per pixel.
        intercept: the constant of that relation (0 without ``intercept=True``).
        gnyq: the MS sensor's MTF gain at the low-resolution Nyquist frequency.
        residual: unexplained share of the degraded PAN's variation.
    """

    weights: Tensor
    intercept: float
    gnyq: float
    residual: float

    @property
    def consistent(self) -> bool:
        """Whether the residual is under :data:`CONSISTENCY_THRESHOLD`."""
        return self.residual < CONSISTENCY_THRESHOLD


def _image(x: Tensor, name: str) -> Tensor:
    return single_image(x, name).detach().to("cpu", torch.float64)


def _pair(y_lr: Tensor, guide: Tensor, factor: int, names: tuple[str, str]) -> tuple[Tensor, Tensor, int]:
    y_lr, guide = _image(y_lr, names[0]), _image(guide, names[1])
    if isinstance(factor, bool) or int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    factor = int(factor)
    h, w = guide.shape[-2:]
    if (h, w) != (y_lr.shape[-2] * factor, y_lr.shape[-1] * factor):
        raise ValueError(
            f"{names[1]} is {h} x {w} but {names[0]} {y_lr.shape[-2]} x {y_lr.shape[-1]} times the factor "
            f"{factor} is {y_lr.shape[-2] * factor} x {y_lr.shape[-1] * factor}"
        )
    return y_lr, guide, factor


def _out(t: Tensor | np.ndarray, like: Tensor) -> Tensor:
    dtype = like.dtype if like.is_floating_point() else torch.float32
    return torch.as_tensor(np.asarray(t)).to(device=like.device, dtype=dtype)


def block_kernel(factor: int, size: int | None = None) -> Tensor:
    """The block average as an (s, s) kernel: 1 / f^2 on the central f x f pixels, 0 around.

    Example:
        >>> block_kernel(2, 4).sum().item(), block_kernel(2, 4)[0].tolist()
        (1.0, [0.0, 0.0, 0.0, 0.0])
    """
    size = factor if size is None else size
    if size < factor or (size - factor) % 2:
        raise ValueError(f"the kernel size must be at least the factor {factor} and have its parity, got {size}")
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


def _interior(n_lr: int, factor: int, pad: int, size: int) -> slice:
    """Low-resolution rows whose kernel footprint stays inside the image (borders are not modelled)."""
    first = math.ceil(pad / factor)
    last = (n_lr * factor + pad - size) // factor  # f i - pad + size <= n_lr f
    if last - first + 1 < 2:
        return slice(0, n_lr)
    return slice(first, last + 1)


def _residuals(fit: np.ndarray, target: np.ndarray) -> tuple[float, tuple[float, ...]]:
    """Unexplained share of each band's variation, and over all bands; (K, n) arrays."""
    err = ((fit - target) ** 2).sum(axis=1)
    var = ((target - target.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    var = np.maximum(var, 1e-30)
    bands = tuple(float(v) for v in np.sqrt(err / var))
    return float(np.sqrt(err.sum() / var.sum())), bands


def _second_differences(n: int) -> np.ndarray:
    d = np.zeros((max(n - 2, 0), n))
    for i in range(n - 2):
        d[i, i : i + 3] = (1.0, -2.0, 1.0)
    return d


def _support(support: Tensor | np.ndarray | None, k: int, c: int) -> np.ndarray:
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


def _folds(h: int, w: int) -> np.ndarray:
    """Cross-validation folds of an h x w grid: its four quadrants (neighbours are correlated)."""
    r = (np.arange(h) >= h // 2).astype(int)
    c = (np.arange(w) >= w // 2).astype(int)
    return (2 * r[:, None] + c[None, :]).reshape(-1)


def _solve(q: np.ndarray, c: np.ndarray, pen: np.ndarray, lam: float, unit_sum: np.ndarray | None) -> np.ndarray:
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


def _fit(
    a: np.ndarray,
    b: np.ndarray,
    folds: np.ndarray,
    pen: np.ndarray,
    smoothness: float | str,
    unit_sum: np.ndarray | None,
) -> np.ndarray:
    """Non-negative penalised least squares, the penalty's weight chosen by cross-validation when "auto"."""
    q, c = a.T @ a, a.T @ b
    scale = max(float(np.trace(q)) / q.shape[0], 1e-300)
    if smoothness != "auto":
        return _solve(q, c, pen, float(smoothness) * scale, unit_sum)
    best, chosen = np.inf, _GRID[0]
    parts = [(a[folds == f], b[folds == f]) for f in np.unique(folds)]
    for weight in _GRID:
        err = 0.0
        for af, bf in parts:
            x = _solve(q - af.T @ af, c - af.T @ bf, pen, weight * scale, unit_sum)
            err += float(((af @ x - bf) ** 2).sum())
        if err < best:
            best, chosen = err, weight
    return _solve(q, c, pen, chosen * scale, unit_sum)


def _fit_srf(
    y_lr: np.ndarray, target: np.ndarray, support: np.ndarray, smoothness: float | str, folds: np.ndarray
) -> np.ndarray:
    """Per guide band: min ||y_lr^T r - t||^2 + lam ||D2 r||^2, r >= 0 on the support, 0 off it."""
    srf = np.zeros((target.shape[0], y_lr.shape[0]))
    for k in range(target.shape[0]):
        cols = np.flatnonzero(support[k])
        d = _second_differences(cols.size)
        srf[k, cols] = _fit(y_lr[cols].T, target[k], folds, d.T @ d, smoothness, unit_sum=None)
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
    lr, hr, factor = _pair(y_lr, guide, factor, ("y_lr", "guide"))
    _check_smoothness(smoothness)
    k, c = hr.shape[1], lr.shape[1]
    mask = _support(support, k, c)
    op = spatial if spatial is not None else KernelDownsample(block_kernel(factor), factor)
    target = op(hr)
    rows, cols = _crop(op, lr.shape[-2], lr.shape[-1], factor)
    t = target[0][:, rows, cols].reshape(k, -1).numpy()
    a = lr[0][:, rows, cols].reshape(c, -1).numpy()
    folds = _folds(*lr[0][0, rows, cols].shape)
    return _out(_fit_srf(a, t, mask, smoothness, folds), guide)


def _check_smoothness(smoothness: float | str) -> None:
    if smoothness == "auto":
        return
    if isinstance(smoothness, str) or not float(smoothness) >= 0:
        raise ValueError(f"smoothness must be a number >= 0 or 'auto', got {smoothness!r}")


def _crop(op: object, h: int, w: int, factor: int) -> tuple[slice, slice]:
    if isinstance(op, KernelDownsample):
        s = op.kernel.shape[0]
        return _interior(h, factor, op.pad, s), _interior(w, factor, op.pad, s)
    return slice(0, h), slice(0, w)


def _gradient_penalty(size: int) -> np.ndarray:
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
    :func:`estimate_srf`). Only low-resolution pixels whose footprint lies inside the image are
    used.

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
    lr, hr, factor = _pair(y_lr, guide, factor, ("y_lr", "guide"))
    k_bands, c = hr.shape[1], lr.shape[1]
    r = torch.as_tensor(srf, dtype=torch.float64).cpu()
    if r.shape != (k_bands, c):
        raise ValueError(f"srf must be {k_bands} x {c} (guide bands x low-res bands), got {tuple(r.shape)}")
    size = 3 * factor if size is None else int(size)
    if size < factor or (size - factor) % 2:
        raise ValueError(f"the kernel size must be at least the factor {factor} and have its parity, got {size}")
    _check_smoothness(smoothness)
    design, rows, cols = _kernel_design(hr, factor, size)
    target = torch.einsum("kc,bchw->bkhw", r, lr)[0][:, rows, cols].reshape(-1).numpy()
    folds = np.tile(_folds(len(range(lr.shape[-2])[rows]), len(range(lr.shape[-1])[cols])), k_bands)
    pen = _gradient_penalty(size)
    sol = _fit(design, target, folds, pen.T @ pen, smoothness, unit_sum=np.ones(size * size))
    kern = sol.reshape(size, size)
    return _out(kern / kern.sum(), guide)


def _kernel_design(hr: Tensor, factor: int, size: int) -> tuple[np.ndarray, slice, slice]:
    """The matrix of k -> D(k * guide) over the interior low-res pixels, rows (band, row, column)."""
    h, w = hr.shape[-2] // factor, hr.shape[-1] // factor
    pad = (size - factor) // 2
    rows, cols = _interior(h, factor, pad, size), _interior(w, factor, pad, size)
    mode = "reflect" if pad < min(hr.shape[-2:]) else "replicate"
    gp = torch.nn.functional.pad(hr, (pad,) * 4, mode=mode)[0].numpy() if pad else hr[0].numpy()
    r0, c0 = rows.start * factor, cols.start * factor
    nr, nc = len(range(h)[rows]), len(range(w)[cols])
    design = np.empty((hr.shape[1] * nr * nc, size * size))
    for a in range(size):
        for b in range(size):
            design[:, a * size + b] = gp[:, r0 + a :: factor, c0 + b :: factor][:, :nr, :nc].reshape(-1)
    return design, rows, cols


def _joint(
    lr: Tensor, hr: Tensor, factor: int, size: int, support: np.ndarray, smoothness: float | str
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and response at once: D(k * guide_j) - sum_c R_jc y_c = 0 is linear in (k, R) together.

    The scale is fixed by sum(k) = 1; both blocks are scaled to unit mean squared column norm so
    that one penalty weight serves both (gradient of k, second differences of each row of R).
    """
    design, rows, cols = _kernel_design(hr, factor, size)
    k_bands, c = hr.shape[1], lr.shape[1]
    y = lr[0][:, rows, cols].reshape(c, -1).numpy().T  # (n, C)
    n = y.shape[0]
    sk = math.sqrt(np.einsum("ij,ij->", design, design) / design.shape[1])
    sr = math.sqrt(k_bands * np.einsum("ij,ij->", y, y) / max(int(support.sum()), 1))
    idx = [np.flatnonzero(support[j]) for j in range(k_bands)]
    m = size * size + sum(len(i) for i in idx)
    a = np.zeros((design.shape[0], m))
    a[:, : size * size] = design / sk
    pen = np.zeros((m, m))
    g = _gradient_penalty(size)
    pen[: size * size, : size * size] = g.T @ g
    at = size * size
    for j, cj in enumerate(idx):
        a[j * n : (j + 1) * n, at : at + cj.size] = -y[:, cj] / sr
        d = _second_differences(cj.size)
        pen[at : at + cj.size, at : at + cj.size] = d.T @ d
        at += cj.size
    e = np.zeros(m)
    e[: size * size] = 1 / sk
    folds = np.tile(_folds(len(range(lr.shape[-2])[rows]), len(range(lr.shape[-1])[cols])), k_bands)
    z = _fit(a, np.zeros(a.shape[0]), folds, pen, smoothness, unit_sum=e)
    kern = z[: size * size].reshape(size, size) / sk
    srf = np.zeros((k_bands, c))
    at = size * size
    for j, cj in enumerate(idx):
        srf[j, cj] = z[at : at + cj.size] / sr
        at += cj.size
    total = kern.sum()
    return kern / total, srf / total


def estimate_degradation(
    y_lr: Tensor,
    guide: Tensor,
    factor: int,
    *,
    srf: Tensor | None = None,
    kernel: Tensor | None = None,
    size: int | None = None,
    support: Tensor | np.ndarray | None = None,
    smoothness: float | Literal["auto"] = "auto",
) -> Degradation:
    """Estimate the response and the blur of an HS + guide pair from the pair (HySure's model).

    With neither known, R y_lr = D(k * guide) is solved for both at once: the relation is
    linear in (k, R) jointly, and sum(k) = 1 fixes the scale, so no alternation (slow on this
    bilinear problem) is needed; k >= 0, R >= 0, first differences of k and second differences
    of each row of R are penalised with one weight (``"auto"``: cross-validated). A given
    ``srf`` or ``kernel`` is kept fixed and the other estimated (:func:`estimate_kernel`,
    :func:`estimate_srf`); with both given only the residual is computed (a consistency check).

    Args:
        y_lr: (1, C, h, w) low-resolution HS image.
        guide: (1, K, h f, w f) high-resolution guide.
        factor: resolution ratio f.
        srf: a known (K, C) response, kept fixed.
        kernel: a known (s, s) kernel of :class:`gdd.operators.KernelDownsample`, kept fixed.
        size: the kernel size to estimate (default 3 f).
        support: (K, C) bool mask of the response's support.
        smoothness: the penalties' relative weight, or ``"auto"``.

    Returns:
        a :class:`Degradation` on the guide's device and dtype.

    Raises:
        ValueError: sizes that do not fit, a response, kernel or support of the wrong shape.

    Example:
        >>> x = torch.rand(1, 6, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> r = torch.tensor([[0.5, 0.5, 0, 0, 0, 0], [0, 0, 0.3, 0.4, 0.3, 0], [0, 0, 0, 0, 0.5, 0.5]])
        >>> d = estimate_degradation(torch.nn.functional.avg_pool2d(x, 2), torch.einsum("kc,bchw->bkhw", r, x), 2)
        >>> d.srf.shape, d.kernel.shape, d.residual < 0.05
        (torch.Size([3, 6]), torch.Size([6, 6]), True)
    """
    lr, hr, factor = _pair(y_lr, guide, factor, ("y_lr", "guide"))
    _check_smoothness(smoothness)
    k_bands, c = hr.shape[1], lr.shape[1]
    r = None if srf is None else torch.as_tensor(srf, dtype=torch.float64).cpu()
    if r is not None and r.shape != (k_bands, c):
        raise ValueError(f"srf must be {k_bands} x {c} (guide bands x HS bands), got {tuple(r.shape)}")
    kern = None if kernel is None else torch.as_tensor(kernel, dtype=torch.float64).cpu()
    if kern is not None:
        KernelDownsample(kern, factor)  # checks the shape
    size = (3 * factor if kern is None else kern.shape[0]) if size is None else int(size)
    if size < factor or (size - factor) % 2:
        raise ValueError(f"the kernel size must be at least the factor {factor} and have its parity, got {size}")
    if r is None and kern is None:
        k_np, r_np = _joint(lr, hr, factor, size, _support(support, k_bands, c), smoothness)
        kern, r = torch.from_numpy(k_np), torch.from_numpy(r_np)
    elif kern is None and r is not None:
        kern = estimate_kernel(lr, hr, r, factor, size=size, smoothness=smoothness)
    elif r is None and kern is not None:
        r = estimate_srf(lr, hr, factor, spatial=KernelDownsample(kern, factor), support=support,
                         smoothness=smoothness)  # fmt: skip
    assert r is not None and kern is not None
    total, bands = pair_residual(lr, hr, r, KernelDownsample(kern, factor))
    return Degradation(
        srf=_out(r, guide),
        kernel=_out(kern, guide),
        factor=factor,
        residual=total,
        band_residuals=bands,
        offset=kernel_offset(kern, factor),
    )


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
    lr, hr = _image(y_lr, "y_lr"), _image(guide, "guide")
    r = torch.as_tensor(srf, dtype=torch.float64).cpu()
    if r.shape != (hr.shape[1], lr.shape[1]):
        raise ValueError(
            f"srf must be {hr.shape[1]} x {lr.shape[1]} (guide bands x low-res bands), got {tuple(r.shape)}"
        )
    factor = hr.shape[-1] // max(lr.shape[-1], 1)
    target = spatial(hr)
    if target.shape[-2:] != lr.shape[-2:]:
        raise ValueError(f"the degraded guide is {tuple(target.shape[-2:])}, the low-res image {tuple(lr.shape[-2:])}")
    rows, cols = _crop(spatial, lr.shape[-2], lr.shape[-1], factor)
    k = hr.shape[1]
    t = target[0][:, rows, cols].reshape(k, -1).numpy()
    fit = torch.einsum("kc,chw->khw", r, lr[0][:, rows, cols]).reshape(k, -1).numpy()
    return _residuals(fit, t)


def _pan_fit(ms: Tensor, pan: Tensor, ratio: int, gnyq: float, intercept: bool) -> tuple[np.ndarray, float, float]:
    """Weights (and constant) regressing the MS bands on the MTF-degraded PAN, and the residual."""
    target = MTFDownsample(ratio, gnyq)(pan)[0, 0]
    pad = 20  # the 41-tap filter's half width: leave out pixels that see the replicated border
    rows = _interior(ms.shape[-2], ratio, pad, 2 * pad + ratio)
    cols = _interior(ms.shape[-1], ratio, pad, 2 * pad + ratio)
    t = target[rows, cols].reshape(-1).numpy()
    a = ms[0][:, rows, cols].reshape(ms.shape[1], -1).numpy().T
    if intercept:
        a = np.hstack([a, np.ones((a.shape[0], 1))])
        lo = np.r_[np.zeros(ms.shape[1]), -np.inf]
    else:
        lo = np.zeros(ms.shape[1])
    sol = lsq_linear(a, t, bounds=(lo, np.inf), method="bvls").x
    res, _ = _residuals((a @ sol)[None], t[None])
    return sol[: ms.shape[1]], float(sol[-1]) if intercept else 0.0, res


def estimate_pan_degradation(
    ms: Tensor,
    pan: Tensor,
    ratio: int,
    *,
    gnyq: float | None = None,
    intercept: bool = True,
    bounds: tuple[float, float] = (0.05, 0.7),
) -> PanDegradation:
    """The PAN's band weights and the MS sensor's MTF gain from an MS + PAN pair.

    For a gain g, w(g) solves  min_{w >= 0, b}  ||D(h_g * pan) - w^T ms - b||^2,  with h_g the
    MTF-matched Gaussian filter of :mod:`gdd.sensors` and D the decimation of
    :class:`gdd.operators.MTFDownsample`; g minimises that residual over ``bounds`` (a bounded
    scalar search; the residual is smooth in g). Pixels that see the image border are left out.

    Args:
        ms: (1, C, h, w) multispectral image.
        pan: (1, 1, h r, w r) panchromatic image.
        ratio: resolution ratio r.
        gnyq: a known gain: only the weights are estimated.
        intercept: fit a constant too (radiometric offsets between the sensors).
        bounds: the interval searched for the gain.

    Returns:
        a :class:`PanDegradation` (weights on the PAN's device and dtype).

    Example:
        >>> x = torch.rand(1, 4, 96, 96, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> d = estimate_pan_degradation(MTFDownsample(2, 0.3)(x), x.mean(1, keepdim=True), 2)
        >>> round(d.gnyq, 2), [round(w, 2) for w in d.weights.tolist()]
        (0.3, [0.25, 0.25, 0.25, 0.25])
    """
    lr, hr, ratio = _pair(ms, pan, ratio, ("ms", "pan"))
    if hr.shape[1] != 1:
        raise ValueError(f"pan must have one band, got {hr.shape[1]}")
    lo, hi = (float(b) for b in bounds)
    if not 0 < lo < hi < 1:
        raise ValueError(f"bounds must satisfy 0 < low < high < 1, got {bounds!r}")
    if gnyq is None:
        best = minimize_scalar(
            lambda g: _pan_fit(lr, hr, ratio, float(g), intercept)[2],
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-3},
        )
        gnyq = float(best.x)
    elif not 0 < gnyq < 1:
        raise ValueError(f"gnyq must be in (0, 1), got {gnyq!r}")
    weights, const, res = _pan_fit(lr, hr, ratio, float(gnyq), intercept)
    return PanDegradation(weights=_out(weights, pan), intercept=const, gnyq=float(gnyq), residual=res)
