"""Response and blur of an HS + guide pair together (HySure's model), or either with the other known.

R y_lr = D(k * guide) is linear in (k, R) jointly, and sum(k) = 1 fixes the scale, so both are
found by one penalised non-negative least-squares problem, with no alternation (slow on this
bilinear problem); a given response or kernel is kept fixed and the other estimated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from ..checks import positive_int
from ..operators import KernelDownsample
from .kernel import estimate_kernel, gradient_penalty, kernel_design, kernel_offset
from .lstsq import (
    CONSISTENCY_THRESHOLD,
    central_window,
    check_kernel_size,
    check_pair,
    check_smoothness,
    fewest_rows,
    fit_penalised,
    quadrant_folds,
    response_float64,
    second_differences,
    to_like,
)
from .response import estimate_srf, pair_residual, support_mask

__all__ = ["ESTIMATE_WINDOW", "Degradation", "estimate_degradation", "joint_estimate"]

#: :func:`estimate_degradation`, estimating the response and the blur together, reads at most
#: this many low-resolution pixels per side, from the centre of the pair: its least-squares
#: matrix has a row per guide band and pixel and a column per kernel and response entry. With
#: an 8-band guide and 200 HS bands at factor 3 it takes 0.9 GiB at this size and grows with
#: the pixels read (11.5 GiB for 341 x 341 pixels; ``benchmarks/estimate_size.py``).
ESTIMATE_WINDOW = 96


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
        read: the low-resolution rows and columns the estimate was fitted on (the central
            window of a larger pair when both were estimated, else the whole pair's).
    """

    srf: Tensor
    kernel: Tensor
    factor: int
    residual: float
    band_residuals: tuple[float, ...]
    offset: tuple[float, float]
    read: tuple[int, int]

    @property
    def consistent(self) -> bool:
        """Whether the residual is under :data:`gdd.estimate.CONSISTENCY_THRESHOLD`."""
        return self.residual < CONSISTENCY_THRESHOLD


def joint_estimate(
    lr: Tensor, hr: Tensor, factor: int, size: int, support: np.ndarray, smoothness: float | str
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and response at once: D(k * guide_j) - sum_c R_jc y_c = 0 is linear in (k, R) together.

    The scale is fixed by sum(k) = 1; both blocks are scaled to unit mean squared column norm so
    that one penalty weight serves both (gradient of k, second differences of each row of R).
    ``lr`` and ``hr`` are float64 CPU images (:func:`gdd.estimate.lstsq.check_pair`).
    """
    design, rows, cols = kernel_design(hr, factor, size)
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
    g = gradient_penalty(size)
    pen[: size * size, : size * size] = g.T @ g
    at = size * size
    for j, cj in enumerate(idx):
        a[j * n : (j + 1) * n, at : at + cj.size] = -y[:, cj] / sr
        d = second_differences(cj.size)
        pen[at : at + cj.size, at : at + cj.size] = d.T @ d
        at += cj.size
    e = np.zeros(m)
    e[: size * size] = 1 / sk
    folds = np.tile(quadrant_folds(len(range(lr.shape[-2])[rows]), len(range(lr.shape[-1])[cols])), k_bands)
    z = fit_penalised(a, np.zeros(a.shape[0]), folds, pen, smoothness, unit_sum=e)
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
    window: int | None = ESTIMATE_WINDOW,
) -> Degradation:
    """Estimate the response and the blur of an HS + guide pair from the pair (HySure's model).

    With neither known, R y_lr = D(k * guide) is solved for both at once: the relation is
    linear in (k, R) jointly, and sum(k) = 1 fixes the scale, so no alternation (slow on this
    bilinear problem) is needed; k >= 0, R >= 0, first differences of k and second differences
    of each row of R are penalised with one weight (``"auto"``: cross-validated). A given
    ``srf`` or ``kernel`` is kept fixed and the other estimated (:func:`gdd.estimate.estimate_kernel`,
    :func:`gdd.estimate.estimate_srf`); with both given only the residual is computed (a
    consistency check).

    Args:
        y_lr: (1, C, h, w) low-resolution HS image.
        guide: (1, K, h f, w f) high-resolution guide.
        factor: resolution ratio f.
        srf: a known (K, C) response, kept fixed.
        kernel: a known (s, s) kernel of :class:`gdd.operators.KernelDownsample`, kept fixed.
        size: the kernel size to estimate (default 3 f).
        support: (K, C) bool mask of the response's support.
        smoothness: the penalties' relative weight, or ``"auto"``.
        window: with neither ``srf`` nor ``kernel`` given, the most low-resolution pixels per
            side the joint estimate reads, from the centre of the pair (None: all); the
            residual is computed over the whole pair. A single estimate reads every pixel.

    Returns:
        a :class:`Degradation` on the guide's device and dtype.

    Raises:
        ValueError: sizes that do not fit, a response, kernel or support of the wrong shape, a
            window too small for the kernel.

    Example:
        >>> x = torch.rand(1, 6, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> r = torch.tensor([[0.5, 0.5, 0, 0, 0, 0], [0, 0, 0.3, 0.4, 0.3, 0], [0, 0, 0, 0, 0.5, 0.5]])
        >>> d = estimate_degradation(torch.nn.functional.avg_pool2d(x, 2), torch.einsum("kc,bchw->bkhw", r, x), 2)
        >>> d.srf.shape, d.kernel.shape, d.residual < 0.05
        (torch.Size([3, 6]), torch.Size([6, 6]), True)
    """
    lr, hr, factor = check_pair(y_lr, guide, factor, ("y_lr", "guide"))
    check_smoothness(smoothness)
    k_bands, c = hr.shape[1], lr.shape[1]
    r = None if srf is None else response_float64(srf, k_bands, c, columns="HS bands")
    kern = None if kernel is None else torch.as_tensor(kernel, dtype=torch.float64).cpu()
    if kern is not None:
        KernelDownsample(kern, factor)  # checks the shape
    size = (3 * factor if kern is None else kern.shape[0]) if size is None else int(size)
    check_kernel_size(size, factor)
    read = lr.shape[-2:]
    if r is None and kern is None:
        least = fewest_rows(factor, (size - factor) // 2, size)  # two rows inside the kernel's reach
        if window is not None and positive_int(window, "window") < least:
            raise ValueError(f"window must be at least {least} low-resolution pixels for a {size} x {size} kernel "
                             f"at factor {factor}, got {window}")  # fmt: skip
        cut_lr, cut_hr = central_window(lr, hr, factor, window)
        k_np, r_np = joint_estimate(cut_lr, cut_hr, factor, size, support_mask(support, k_bands, c), smoothness)
        kern, r = torch.from_numpy(k_np), torch.from_numpy(r_np)
        read = cut_lr.shape[-2:]
    elif kern is None and r is not None:
        kern = estimate_kernel(lr, hr, r, factor, size=size, smoothness=smoothness)
    elif r is None and kern is not None:
        r = estimate_srf(lr, hr, factor, spatial=KernelDownsample(kern, factor), support=support,
                         smoothness=smoothness)  # fmt: skip
    assert r is not None and kern is not None
    total, bands = pair_residual(lr, hr, r, KernelDownsample(kern, factor))
    return Degradation(
        srf=to_like(r, guide),
        kernel=to_like(kern, guide),
        factor=factor,
        residual=total,
        band_residuals=bands,
        offset=kernel_offset(kern, factor),
        read=(int(read[0]), int(read[1])),
    )
