"""Given degradations against ones estimated from the pair, judged on the half of the pair not fitted.

A response and a blur given for an HS + guide pair can be wrong: another camera than the one
named, a registration offset of a pixel, a blur that is not the block average. The pair itself
says which degradations it was made with (``R y_lr = S guide``, :mod:`gdd.estimate`), but an
estimate always explains the pixels it was fitted to at least as well as the given model, so
the two are compared on pixels the estimate did not see: it is fitted on one half of the pair
(left or right; the longer side is split) and scored on the other, both ways, and the given
degradations are scored on the same pixels. The estimated ones are used only when they predict
the unseen halves better; the given ones keep a tie, which is what a consistent pair gives.

No reference image is involved: the score is the pair's own consistency, ``||R y_lr - S guide||``
over the unseen half, as a share of the degraded guide's variation (:func:`pair_residual`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..operators import KernelDownsample, LinearOperator
from .joint import Degradation, estimate_degradation
from .lstsq import CONSISTENCY_THRESHOLD, as_float64, central_window, interior_crop, residuals

__all__ = [
    "MAX_FACTOR",
    "MIN_SIDE",
    "TIE",
    "WINDOW",
    "DegradationCheck",
    "check_degradations",
    "describe",
    "inconsistency",
    "uncheckable",
    "unestimable",
]

#: Held-out residuals closer than this (a share of the degraded guide's variation) are a tie,
#: which the given degradations keep: float32 images of a consistent pair leave residuals of
#: the order of 1e-7 under either model.
TIE = 1e-4

#: The check reads at most this many low-resolution pixels per side, from the centre of the
#: pair: the least-squares problems grow with the pixels read and the kernel's size.
WINDOW = 64


#: The largest factor the check runs at by default (``hs_problem``): the kernel it estimates is
#: 3 f wide, so its least squares grow with f^4; on two CPU cores a check took 1.6 s at factor
#: 4, 9 s at 8, 47 s at 12 and over 5 minutes at 16.
MAX_FACTOR = 8

#: The fewest low-resolution pixels per side the degradations are estimated on (the check
#: splits them into halves).
MIN_SIDE = 4


def unestimable(height: int, width: int, guide_bands: int, bands: int, factor: int, *, srf: bool, blur: bool) -> str:
    """Why the response (``srf``) and/or the blur (``blur``) cannot be estimated from a pair ("" if they can).

    The HS image (``height`` x ``width`` x ``bands``) is too small (under :data:`MIN_SIDE` a
    side), or gives fewer equations, one per guide band and pixel, than the unknowns: with them
    the smoothness penalty alone decides (a "perfect" fit of the pair that says nothing).

    Example:
        >>> unestimable(8, 8, 3, 31, 8, srf=True, blur=True)
        'the HS image (8 x 8) gives 192 equations for 669 unknowns'
    """
    if min(height, width) < MIN_SIDE:
        return f"the HS image ({height} x {width}) is too small to estimate from (at least {MIN_SIDE} pixels a side)"
    unknowns = (3 * factor) ** 2 * blur + guide_bands * bands * srf
    if height * width * guide_bands < unknowns:
        return (
            f"the HS image ({height} x {width}) gives {height * width * guide_bands} equations for {unknowns} unknowns"
        )
    return ""


def inconsistency(residual: float) -> str:
    """What to say of a pair whose estimated degradations leave ``residual`` of its guide unexplained ("" if little).

    Example:
        >>> inconsistency(0.01), inconsistency(1.2)[:33]
        ('', 'the pair does not look consistent')
    """
    if residual < CONSISTENCY_THRESHOLD:
        return ""
    return (
        f"the pair does not look consistent: the estimated degradations leave {residual:.0%} of the degraded guide "
        "unexplained; check that both images show the same scene, registered, and the factor; the fusion will be poor"
    )


def uncheckable(hsi: Tensor, guide: Tensor) -> str | None:
    """Why the degradations of an HS pair cannot be estimated or checked on the pair, or None."""
    if min(hsi.shape[-2:]) < MIN_SIDE:
        h, w = hsi.shape[-2:]
        return f"the HS image ({h} x {w}) is too small to estimate them on (at least {MIN_SIDE} pixels a side)"
    for name, image in (("HS image", hsi), ("guide", guide)):
        flat = image.reshape(image.shape[1], -1)
        if not bool((flat.amax(dim=1) > flat.amin(dim=1)).any()):
            return f"the {name} is constant"
    return None


@dataclass(frozen=True)
class DegradationCheck:
    """The outcome of :func:`check_degradations`.

    Attributes:
        given: the given degradations' residual on the unseen halves.
        estimated: the estimated ones' residual on the same pixels.
        degradation: the estimate from the whole window when it predicts better (None otherwise).
    """

    given: float
    estimated: float
    degradation: Degradation | None

    @property
    def use_estimated(self) -> bool:
        """Whether the estimated degradations predicted the unseen halves better."""
        return self.degradation is not None


def _residual(lr: Tensor, hr: Tensor, srf: Tensor, op: LinearOperator, crop: tuple[slice, slice]) -> float:
    """||R lr - op(hr)|| over the ``crop`` of the low-resolution grid, as a share of op(hr)'s variation."""
    target = op(hr.float()).double()[0][:, crop[0], crop[1]]
    fit = torch.einsum("kc,chw->khw", srf.double().cpu(), lr[0][:, crop[0], crop[1]])
    k = target.shape[0]
    return residuals(fit.reshape(k, -1).numpy(), target.reshape(k, -1).numpy())[0]


def check_degradations(
    y_lr: Tensor,
    guide: Tensor,
    factor: int,
    srf: Tensor,
    spatial: LinearOperator,
    *,
    window: int = WINDOW,
) -> DegradationCheck:
    """Whether response and blur estimated from the pair predict it better than the given ones.

    Args:
        y_lr: (1, C, h, w) low-resolution HS image.
        guide: (1, K, h f, w f) guide.
        factor: the resolution ratio f.
        srf: the given (K, C) response, as the fusion uses it.
        spatial: the given spatial degradation (any operator from the guide's grid to y_lr's).
        window: the most low-resolution pixels per side read, from the centre.

    Returns:
        the residuals of both on the unseen halves, and the whole window's estimate when it won.

    Example:
        >>> x = torch.rand(1, 6, 64, 64, generator=torch.Generator().manual_seed(0))
        >>> r = torch.tensor([[0.5, 0.5, 0, 0, 0, 0], [0, 0, 0.3, 0.4, 0.3, 0], [0, 0, 0, 0, 0.5, 0.5]])
        >>> from gdd.operators import make_spatial
        >>> shifted = torch.roll(x, shifts=(1, 1), dims=(-2, -1))  # the HS image one pixel off
        >>> y = torch.nn.functional.avg_pool2d(shifted, 4)
        >>> check_degradations(y, torch.einsum("kc,bchw->bkhw", r, x), 4, r, make_spatial("block", 4)).use_estimated
        True
    """
    lr, hr = central_window(as_float64(y_lr, "y_lr"), as_float64(guide, "guide"), factor, window)
    h, w = lr.shape[-2:]
    split_cols = w >= h
    n = w if split_cols else h
    half = n // 2
    parts = [slice(0, half), slice(half, n)]
    given, estimated = 0.0, 0.0
    for fit_part, score_part in (parts, parts[::-1]):

        def cut(t: Tensor, part: slice, scale: int) -> Tensor:
            s = slice(part.start * scale, part.stop * scale)
            return t[..., :, s] if split_cols else t[..., s, :]

        found = estimate_degradation(cut(lr, fit_part, 1), cut(hr, fit_part, factor), factor, window=None)
        op = KernelDownsample(found.kernel.float(), factor)
        lr_s, hr_s = cut(lr, score_part, 1), cut(hr, score_part, factor)
        # Both scored on the low-resolution pixels whose estimated kernel stays inside the half.
        crop = interior_crop(op, lr_s.shape[-2], lr_s.shape[-1], factor)
        estimated += _residual(lr_s, hr_s, found.srf, op, crop) / 2
        given += _residual(lr_s, hr_s, torch.as_tensor(srf), spatial, crop) / 2
    if not estimated < given - TIE:
        return DegradationCheck(given, estimated, None)
    return DegradationCheck(given, estimated, estimate_degradation(lr, hr, factor, window=None))


def describe(check: DegradationCheck) -> dict[str, object]:
    """The check as JSON-ready details: both residuals, what was used and, if estimated, the offset."""
    out: dict[str, object] = {
        "rule": "held-out halves of the pair",
        "given": check.given,
        "estimated": check.estimated,
        "chosen": "estimated" if check.use_estimated else "given",
    }
    if check.degradation is not None:
        out["offset"] = list(check.degradation.offset)
        out["srf"] = np.asarray(check.degradation.srf.double().cpu()).tolist()
    return out
