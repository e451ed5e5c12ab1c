"""The three tasks as problems: measurements -> the guide, the data terms and what to compare with.

- ``hs``: low-resolution HS + high-resolution RGB/MS guide (HS-MS fusion);
- ``pan``: MS + PAN (pansharpening), reduced- or full-resolution;
- ``flash``: noisy no-flash image + flash guide (guided denoising).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from ..checks import layout_known, pair_at_factor, positive_int, single_image, warn_if_hwc
from ..estimate.check import MAX_FACTOR, check_degradations, describe, uncheckable
from ..fusion import Term
from ..operators import (
    Identity,
    KernelDownsample,
    LinearOperator,
    MTFDownsample,
    SpatialKind,
    SpectralResponse,
    imresize,
    make_spatial,
)
from .classic import hs_classic, pan_classic, pan_start
from .presets import Task

__all__ = ["PAN_SPATIAL", "Problem", "flash_problem", "hs_problem", "pan_problem"]


def _mask(m: Tensor | None, like: Tensor, name: str) -> Tensor | None:
    """A nodata mask as (1, 1, H, W) float (1 = data), checked against its image; None if all valid."""
    if m is None:
        return None
    m = torch.as_tensor(m)
    while m.ndim < 4:
        m = m[None]
    if m.shape != (1, 1, *like.shape[-2:]):
        raise ValueError(f"{name} mask is {tuple(m.shape[-2:])}, its image {tuple(like.shape[-2:])}")
    if not m.bool().any():
        raise ValueError(f"{name} mask leaves no pixel")
    return None if m.bool().all() else m.float()


def _again(builder: Callable[..., Problem], *args: object, **kwargs: object) -> Problem:
    """A problem built again from one already built (its layout checked once, where the caller built it)."""
    with layout_known():
        return builder(*args, **kwargs)


def _valid(hr: Tensor | None, lr: Tensor | None, factor: int) -> Tensor | None:
    """Output pixels with data: the guide's valid pixels and those whose low-res pixel is valid."""
    if lr is not None:
        lr = lr.repeat_interleave(factor, -2).repeat_interleave(factor, -1)
    if hr is None or lr is None:
        out = hr if lr is None else lr
    else:
        out = hr * lr
    return None if out is None else out.bool()


@dataclass
class Problem:
    """One fusion problem: the guide, how to build the data terms, and what to compare with.

    Attributes:
        task: ``"hs"``, ``"pan"`` or ``"flash"``.
        guide: (1, C_guide, H, W).
        out_channels: bands of the estimate.
        factor: resolution ratio (1 for flash).
        make_terms: builds fresh data terms (learnable operators newly initialised).
        baseline: the classic reference point (bicubic upsampling; the noisy input for flash).
        details: what was set up, for reports and JSON.
        valid: (1, 1, H, W) bool, the output pixels backed by data in every input (None: all).
        classic: the classic fusion of this problem by method name (``"gsa"``, ...), a starting
            point for GDD; None for tasks without one (flash).
        auto_start: ``init="auto"``'s choice by the legacy rule (``PAN_LINEAR_R2``),
            ``(init, residual, statistic)``; None for tasks without one.
        observed: the name of the term whose pixels held-out validation leaves out.
        observation: that term's image (the low-resolution HS/MS image, the noisy image).
        observation_mask: its pixels with data (1, 1, h, w) float, None when all are.
        remake: the same problem with another observation and mask of its pixels with data
            (:func:`gdd.problems.held_out` leaves pixels out with it); None if it cannot.
        alternatives: the same pair under other degradation models, by name (this problem is
            one of them): with held-out validation ``solve`` fits each and keeps the one that
            predicts the held-out pixels best; without, this problem is fitted.
        check: for an HS pair with a given response and blur, compares them with ones
            estimated from the pair on the halves the estimate did not see
            (:func:`gdd.estimate.check_degradations`); returns the problem under the estimated
            degradations when they predict better (None otherwise) and the check's details.
            With held-out validation ``solve`` runs it first. It is computed once: a second
            call returns the same problem and a copy of the same details.
    """

    task: Task
    guide: Tensor
    out_channels: int
    factor: int
    make_terms: Callable[[], list[Term]]
    baseline: Callable[[], Tensor]
    details: dict[str, object] = field(default_factory=dict)
    valid: Tensor | None = None
    classic: Callable[[str], Tensor] | None = None
    auto_start: Callable[[], tuple[str, bool, float]] | None = None
    observed: str = ""
    observation: Tensor | None = None
    observation_mask: Tensor | None = None
    remake: Callable[[Tensor, Tensor | None], Problem] | None = None
    alternatives: dict[str, Callable[[], Problem]] = field(default_factory=dict)
    check: Callable[[], tuple[Problem | None, dict[str, object]]] | None = None


def hs_problem(
    hsi: Tensor,
    guide: Tensor,
    srf: Tensor,
    factor: int,
    *,
    spatial: SpatialKind | LinearOperator = "block",
    normalize_srf: bool = True,
    hs_weight: float = 0.1,
    hsi_mask: Tensor | None = None,
    guide_mask: Tensor | None = None,
    check_degradations: bool = True,
) -> Problem:
    """HS + RGB/MS fusion: 0.1 * MSE(spatial(x), hsi) + MSE(srf x, guide) (authors' weights).

    Args:
        hsi: low-resolution HS image (1, C, h, w).
        guide: high-resolution RGB/MS image (1, K, h * factor, w * factor).
        srf: response matrix (K, C) (a (C, K) matrix is transposed when that is unambiguous).
        factor: resolution ratio.
        spatial: how the HS image was degraded: ``"block"`` average (authors), ``"gaussian"``
            blur + decimation, MATLAB ``"bicubic"``, or an operator such as
            :class:`gdd.operators.KernelDownsample` with a kernel from :mod:`gdd.estimate`.
        normalize_srf: scale each row of the response to sum 1 (the usual protocol).
        hs_weight: weight of the HS term.
        hsi_mask, guide_mask: (h, w) / (H, W) masks of pixels with data (True) in each input;
            nodata pixels are left out of their term.
        check_degradations: let ``solve`` compare ``srf`` and ``spatial`` with a response and
            blur estimated from the pair, and use those where they predict the pair's unseen
            halves better (``Problem.check``; not for pairs with nodata pixels, nor above
            :data:`gdd.estimate.check.MAX_FACTOR`, where it costs minutes).
    """
    hsi, guide = single_image(hsi, "hsi").float(), single_image(guide, "guide").float()
    warn_if_hwc(guide, "the guide")
    factor = positive_int(factor, "factor")
    c, k = hsi.shape[1], guide.shape[1]
    if isinstance(srf, str) or srf is None:
        raise ValueError(
            f"hs_problem needs the response matrix (K x C), got {srf!r}; to estimate it from the pair, "
            "use gdd.estimate.estimate_srf or gdd.fuse_hs(..., srf='estimate')"
        )
    srf = torch.as_tensor(srf, dtype=torch.float64).detach()
    if srf.ndim != 2:
        raise ValueError(f"the response matrix must be 2-D, got shape {tuple(srf.shape)}")
    if srf.shape != (k, c) and srf.shape == (c, k):
        srf = srf.T
    if srf.shape != (k, c):
        raise ValueError(
            f"the response matrix is {srf.shape[0]} x {srf.shape[1]} but the guide has {k} bands "
            f"and the HS image {c}: it must be {k} x {c}"
        )
    if not torch.isfinite(srf).all():
        raise ValueError("the response matrix contains NaN or Inf values")
    # A response weighs the bands a guide band sums: none below 0 beyond a measurement's noise.
    below = srf < -0.01 * srf.abs().amax(dim=1, keepdim=True)
    if below.any():
        row, col = (int(v) for v in below.nonzero()[0])
        raise ValueError(
            f"the response matrix has negative weights (row {row + 1}, column {col + 1}: {float(srf[row, col]):.3g}); "
            "a guide band sums the HS bands it sees, none with a weight below 0"
        )
    if not (math.isfinite(hs_weight) and hs_weight > 0):
        raise ValueError(f"hs_weight must be a positive number, got {hs_weight}")
    if normalize_srf:
        sums = srf.sum(dim=1, keepdim=True)
        if (sums <= 0).any():
            raise ValueError("a row of the response matrix sums to zero or less; it cannot be normalised")
        srf = srf / sums
    pair_at_factor(hsi, guide, factor, "the HS image")
    srf32 = srf.float()
    lr_mask, hr_mask = _mask(hsi_mask, hsi, "the HS image's"), _mask(guide_mask, guide, "the guide's")

    if isinstance(spatial, LinearOperator):
        op_factor = getattr(spatial, "factor", factor)
        if op_factor != factor:
            raise ValueError(f"the spatial operator's factor is {op_factor}, the problem's {factor}")
    elif spatial not in ("block", "gaussian", "bicubic", "mtf"):
        raise ValueError(f"spatial must be 'block', 'gaussian', 'bicubic', 'mtf' or an operator, got {spatial!r}")

    def spatial_op() -> LinearOperator:
        return copy.deepcopy(spatial) if isinstance(spatial, LinearOperator) else make_spatial(spatial, factor)

    def terms() -> list[Term]:
        return [
            Term(spatial_op(), hsi, weight=hs_weight, name="hs", mask=lr_mask),
            Term(SpectralResponse(srf32), guide, weight=1.0, name="guide", mask=hr_mask),
        ]

    return Problem(
        task="hs",
        guide=guide,
        out_channels=c,
        factor=factor,
        make_terms=terms,
        baseline=lambda: imresize(hsi, scale=factor),
        details={
            "spatial": spatial if isinstance(spatial, str) else type(spatial).__name__,
            "normalize_srf": normalize_srf,
            "hs_weight": hs_weight,
        },
        valid=_valid(hr_mask, lr_mask, factor),
        classic=lambda name: hs_classic(name, hsi, guide, srf32, factor, spatial),
        observed="hs",
        observation=hsi,
        observation_mask=lr_mask,
        remake=lambda y, m: _again(
            hs_problem,
            y,
            guide,
            srf32,
            factor,
            spatial=spatial,
            normalize_srf=False,
            hs_weight=hs_weight,
            hsi_mask=m,
            guide_mask=guide_mask,
            check_degradations=False,
        ),
        check=_hs_check(hsi, guide, srf32, factor, spatial_op(), hs_weight)
        if check_degradations and lr_mask is None and hr_mask is None and factor <= MAX_FACTOR
        else None,
    )


def _hs_check(
    hsi: Tensor, guide: Tensor, srf: Tensor, factor: int, spatial: LinearOperator, hs_weight: float
) -> Callable[[], tuple[Problem | None, dict[str, object]]]:
    """``Problem.check`` of an HS pair: the problem under estimated degradations if they predict better.

    The answer is computed at the first call and kept: a caller that needs it again (a
    benchmark's judging after the fit) gets it without estimating the degradations twice.
    """
    answers: list[tuple[Problem | None, dict[str, object]]] = []

    def check() -> tuple[Problem | None, dict[str, object]]:
        if not answers:
            why = uncheckable(hsi, guide)
            if why is None:
                try:
                    found = check_degradations(hsi, guide, factor, srf, spatial)
                except (ValueError, ZeroDivisionError, FloatingPointError, np.linalg.LinAlgError) as error:
                    why = f"the estimate failed on this pair ({error})"
            if why is not None:
                # An automatic refinement: where it cannot be made, the given degradations are fitted.
                answers.append((None, {"rule": "held-out halves of the pair", "chosen": "given", "skipped": why}))
                return None, dict(answers[0][1])
            problem = None
            if (est := found.degradation) is not None:
                problem = _again(
                    hs_problem, hsi, guide, est.srf.float(), factor,
                    spatial=KernelDownsample(est.kernel.float(), factor),
                    normalize_srf=False, hs_weight=hs_weight, check_degradations=False,
                )  # fmt: skip
            answers.append((problem, describe(found)))
        problem, details = answers[0]
        return problem, dict(details)

    return check


#: The MS degradation of the pansharpening loss when none is given: ``"auto"`` fits with the
#: authors' bicubic and with the sensor's MTF and keeps the fit that predicts held-out MS pixels
#: best (:func:`gdd.problems.solve`). Neither fits every pair: the MTF is right for an MS image
#: made that way (Wald protocol, ``gdd simulate``), bicubic for the authors' pan_im4.
PAN_SPATIAL: Literal["auto", "bicubic", "mtf"] = "auto"


def pan_problem(
    ms: Tensor,
    pan: Tensor,
    ratio: int,
    *,
    full_resolution: bool = False,
    ms_mask: Tensor | None = None,
    pan_mask: Tensor | None = None,
    spatial: Literal["auto", "bicubic", "mtf"] = PAN_SPATIAL,
    gnyq: float | tuple[float, ...] = 0.29,
    mixture: Tensor | None = None,
) -> Problem:
    """Pansharpening: w * MSE(down(x), ms) + gradient_mse(mix(x) - pan) (authors' loss).

    ``down`` is MATLAB's bicubic decimation (the authors') or, with ``spatial="mtf"``, the
    sensor's MTF-matched filter and decimation (Wald protocol) with Nyquist gains ``gnyq``
    (:data:`gdd.sensors.SENSORS`; one value or one per band); ``"auto"`` (the default) is the
    bicubic problem with the MTF one as an alternative (``Problem.alternatives``): ``solve`` fits
    the one under which the classic start, made consistent with the kept MS pixels, predicts the
    held-out ones best (:func:`gdd.problems.holdout.choose_model`).
    ``mix`` is a learned C x C band mixture initialised to diag(randn(C)), as in the authors'
    code: every mixed band is matched to the PAN's gradients. ``w`` is 10 at reduced resolution
    and 100 at full resolution (the authors' note). ``ms_mask``/``pan_mask`` (True = data) leave
    nodata pixels out of their term.
    ``mixture`` (C x C) fixes the band mixture instead of learning it (tiles of one scene share
    the mixture learned on one of them).
    """
    ms, pan = single_image(ms, "ms").float(), single_image(pan, "pan").float()
    warn_if_hwc(pan, "the PAN image")
    ratio = positive_int(ratio, "ratio")
    if pan.shape[1] != 1:
        raise ValueError(f"the PAN image must have one band, got {pan.shape[1]}")
    pair_at_factor(ms, pan, ratio, "the MS image")
    c = ms.shape[1]
    weight = 100.0 if full_resolution else 10.0
    pan_c = pan.expand(1, c, *pan.shape[-2:])
    lr_mask, hr_mask = _mask(ms_mask, ms, "the MS image's"), _mask(pan_mask, pan, "the PAN's")

    if spatial not in ("auto", "bicubic", "mtf"):
        raise ValueError(f"spatial must be 'auto', 'bicubic' or 'mtf', got {spatial!r}")
    alternatives: dict[str, Callable[[], Problem]] = {}
    if spatial == "auto":
        options = dict(full_resolution=full_resolution, ms_mask=ms_mask, pan_mask=pan_mask, gnyq=gnyq, mixture=mixture)
        alternatives = {
            "bicubic": lambda: _again(pan_problem, ms, pan, ratio, spatial="bicubic", **options),
            "mtf": lambda: _again(pan_problem, ms, pan, ratio, spatial="mtf", **options),
        }
        spatial = "bicubic"
    fixed = None if mixture is None else torch.as_tensor(mixture, dtype=torch.float32)
    if fixed is not None and fixed.shape != (c, c):
        raise ValueError(f"the band mixture must be {c} x {c}, got {tuple(fixed.shape)}")
    if fixed is not None and not torch.isfinite(fixed).all():
        raise ValueError("the band mixture contains NaN or Inf values")

    def terms() -> list[Term]:
        mixture = (
            SpectralResponse(torch.diag(torch.randn(c)), learnable=True)
            if fixed is None
            else SpectralResponse(fixed, learnable=False)
        )
        down = MTFDownsample(ratio, gnyq) if spatial == "mtf" else make_spatial("bicubic", ratio)
        return [
            Term(down, ms, weight=weight, name="ms", mask=lr_mask),
            Term(mixture, pan_c, weight=1.0, loss="gradient_mse", name="pan", mask=hr_mask),
        ]

    return Problem(
        task="pan",
        guide=pan,
        out_channels=c,
        factor=ratio,
        make_terms=terms,
        baseline=lambda: imresize(ms, scale=ratio),
        details={"full_resolution": full_resolution, "ms_weight": weight, "spatial": spatial},
        valid=_valid(hr_mask, lr_mask, ratio),
        classic=lambda name: pan_classic(name, ms, pan, ratio),
        auto_start=lambda: pan_start(ms, pan, ratio, ms_mask=lr_mask, pan_mask=hr_mask),
        observed="ms",
        observation=ms,
        observation_mask=lr_mask,
        remake=lambda y, m: _again(
            pan_problem,
            y,
            pan,
            ratio,
            full_resolution=full_resolution,
            ms_mask=m,
            pan_mask=pan_mask,
            spatial=spatial,
            gnyq=gnyq,
            mixture=mixture,
        ),
        alternatives=alternatives,
    )


def flash_problem(
    noisy: Tensor, guide: Tensor, *, noisy_mask: Tensor | None = None, guide_mask: Tensor | None = None
) -> Problem:
    """Flash/no-flash denoising: MSE(x, noisy), with the flash image as guide.

    The denoising comes from the network's structure and the limited number of steps.
    Nodata pixels of the no-flash image (``noisy_mask`` False) are left out of the loss.
    """
    noisy, guide = single_image(noisy, "noisy").float(), single_image(guide, "guide").float()
    warn_if_hwc(noisy, "the no-flash image")
    if noisy.shape[-2:] != guide.shape[-2:]:
        raise ValueError(
            f"the no-flash image is {noisy.shape[-2]} x {noisy.shape[-1]} but the flash image "
            f"{guide.shape[-2]} x {guide.shape[-1]}: they must be the same size"
        )
    lr_mask, hr_mask = _mask(noisy_mask, noisy, "the no-flash image's"), _mask(guide_mask, guide, "the flash image's")
    return Problem(
        task="flash",
        guide=guide,
        out_channels=noisy.shape[1],
        factor=1,
        make_terms=lambda: [Term(Identity(), noisy, name="noisy", mask=lr_mask)],
        baseline=lambda: noisy,
        valid=_valid(hr_mask, lr_mask, 1),
        observed="noisy",
        observation=noisy,
        observation_mask=lr_mask,
        remake=lambda y, m: _again(flash_problem, y, guide, noisy_mask=m, guide_mask=guide_mask),
    )
