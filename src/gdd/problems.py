"""Presets for the three tasks: measurements -> operators, weights and settings.

- ``hs``: low-resolution HS + high-resolution RGB/MS guide (HS-MS fusion);
- ``pan``: MS + PAN (pansharpening), reduced- or full-resolution;
- ``flash``: noisy no-flash image + flash guide (guided denoising).

The network and loop settings of ``budget="authors"`` come from the released demos and the
paper (see :data:`PRESETS`), with additions measured to gain (README): the result is the mean
of the estimates of the last 100 steps (50 for flash) instead of the last estimate alone; for
``hs`` and ``pan`` GDD starts from a classic fusion (GSA-HS; SFIM) and the result is chosen by
data consistency, the classic result included, so that it is never worse on the observations.
``init="none", keep_best=False, average_last=0`` give the authors' exact method.
``budget="cpu"`` are smaller settings measured to finish in minutes on two CPU cores (README,
"Presets").
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from .fusion import FitConfig, FitResult, Term, fit, resolve_device, seeded
from .fusion import _objective as data_objective  # one definition of the data objective
from .models import GuidedDeepDecoder, Sharing, max_depth
from .operators import (
    Identity,
    LinearOperator,
    MTFDownsample,
    SpatialKind,
    SpectralResponse,
    imresize,
    make_spatial,
    single_image,
)

__all__ = [
    "ENSEMBLE",
    "PAN_LINEAR_R2",
    "PAN_SPATIAL",
    "PRESETS",
    "Preset",
    "Problem",
    "classic_method",
    "flash_problem",
    "hs_problem",
    "pan_linearity",
    "pan_problem",
    "pan_start",
    "solve",
    "solve_many",
]

Task = Literal["hs", "pan", "flash"]
Budget = Literal["authors", "cpu"]


@dataclass(frozen=True)
class Preset:
    """Network and loop settings of one task at one budget."""

    width: int
    iterations: int
    noise_std: float
    guard_threshold: float | None
    sharing: Sharing
    lr: float = 0.01
    depth: int = 5
    average_last: int = 0
    weights: tuple[tuple[str, float], ...] = ()
    """Overrides of the problem's term weights by term name, e.g. (("hs", 1.0),)."""
    init: str = "none"
    """A classic fusion to start from (``gdd.baselines``: "gsa" for pansharpening and "gsa_hs"
    for HS fusion, under the name "gsa" for both), "none": the authors' start, or "auto"
    (pansharpening): the start and whether it is a residual chosen from the pair
    (:func:`pan_start`)."""
    keep_best: bool = False
    """Choose the result by data consistency (see :class:`gdd.fusion.FitConfig`)."""
    warm_start: int = 0
    """Steps fitting the network to the classic start before the data fit."""
    residual: bool = True
    """The classic start enters as a residual (see :class:`gdd.fusion.FitConfig`)."""
    residual_scale: float = 0.0
    """The initial value of the residual's learned scale (see :class:`gdd.fusion.FitConfig`)."""
    more_starts: tuple[tuple[str, int, bool], ...] = ()
    """Further starts, each ``(init, warm_start, residual)``, fitted one after another with the
    same settings and seed (a ``warm_start`` override holds for every start); the result is the
    mean of every start's result (each chosen by data consistency with ``keep_best``). Fits from
    different starts err differently: on ``pan_im4`` the mean of the SFIM residual (33.57 dB)
    and the GSA warm start (34.79 dB) is 34.93 dB (``--ensemble``, :data:`ENSEMBLE`)."""


_PAN_START: dict[str, Any] = {"init": "auto", "warm_start": 100, "keep_best": True}

#: ``init="auto"`` for pansharpening: at or above this share of the PAN's variance (reduced to
#: the MS grid) explained by a linear mixture of the MS bands, the authors' PAN term (a learned
#: band mixture matched to the PAN's gradients) describes the pair and GDD starts warm from GSA
#: with its own output; below it, from SFIM as a residual, which keeps SFIM's spectra where the
#: PAN does not see a band. Measured: pan_im4 0.9993, Landsat-7 at reduced resolution 0.93 (the
#: WorldView-3 and Landsat-7 pairs at full resolution 0.82 and 0.60); README, "Never worse than
#: the classic methods".
PAN_LINEAR_R2 = 0.99

#: ``--ensemble``: the starts fitted one after another and averaged, per task.
ENSEMBLE: dict[str, tuple[tuple[str, int, bool], ...]] = {"pan": (("sfim", 100, True), ("gsa", 100, False))}

PRESETS: dict[tuple[Task, Budget], Preset] = {
    # Authors' HS demo and paper: width 64, 20001 iterations, noise 0.03, guard 1e-5, shared weights.
    # On both budgets GDD starts from GSA-HS as a residual and the result is chosen by data
    # consistency (README, "Never worse than the classic methods").
    ("hs", "authors"): Preset(
        width=64,
        iterations=20001,
        noise_std=0.03,
        guard_threshold=1e-5,
        sharing="all",
        average_last=100,
        init="gsa",
        keep_best=True,
    ),
    # CPU: measured on CAVE balloons 128 x 128, x8 (README): at 600 steps the authors' HS weight
    # 0.1 and noise 0.03 leave the spectra behind (SAM worse than bicubic); weight 1, noise
    # 0.01 and the mean of the last 50 estimates gain about 4 dB and 2.4 degrees.
    ("hs", "cpu"): Preset(
        width=32,
        iterations=600,
        noise_std=0.01,
        guard_threshold=1e-5,
        sharing="all",
        average_last=50,
        weights=(("hs", 1.0),),
        init="gsa",
        keep_best=True,
    ),
    # Authors' PAN demo: width 64, 8001 iterations, noise 0.01, guard 0.1, per-level guide decoder and URU.
    # On both budgets GDD starts from a classic fusion chosen from the pair (PAN_LINEAR_R2): 100
    # steps fit the network to it, then either the network's own output (GSA) or a correction
    # of SFIM as a residual; the result is chosen by data consistency (README, "Never worse than
    # the classic methods").
    ("pan", "authors"): Preset(
        width=64,
        iterations=8001,
        noise_std=0.01,
        guard_threshold=0.1,
        sharing="partial",
        average_last=100,
        **_PAN_START,
    ),
    ("pan", "cpu"): Preset(
        width=64, iterations=500, noise_std=0.01, guard_threshold=0.1, sharing="partial", average_last=50, **_PAN_START
    ),
    # Authors' denoising demo: width 32, 1001 iterations, noise 0.01, guard 0.01.
    ("flash", "authors"): Preset(
        width=32, iterations=1001, noise_std=0.01, guard_threshold=0.01, sharing="partial", average_last=50
    ),
    # CPU: width 32 costs about 6 s per step on the authors' 706 x 774 pair, width 16 2.2 s; on a
    # CAVE stand-in (README) width 16, 250 steps and the mean of the last 50 estimates denoise
    # about as well as the authors' 1001 steps.
    ("flash", "cpu"): Preset(
        width=16, iterations=250, noise_std=0.01, guard_threshold=0.01, sharing="partial", average_last=50
    ),
}


def _image(x: Tensor, name: str) -> Tensor:
    return single_image(x, name).float()


def _check_factor(factor: int, name: str) -> int:
    if isinstance(factor, bool) or int(factor) != factor or factor < 1:
        raise ValueError(f"{name} must be a positive integer, got {factor!r}")
    return int(factor)


def _check_sizes(lr: Tensor, hr: Tensor, factor: int, what: str) -> None:
    h, w = hr.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"the guide's size {h} x {w} is not divisible by the factor {factor}")
    if lr.shape[-2:] != (h // factor, w // factor):
        raise ValueError(
            f"{what} is {lr.shape[-2]} x {lr.shape[-1]} but the guide {h} x {w} / factor {factor} "
            f"needs {h // factor} x {w // factor}"
        )


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
        auto_start: ``init="auto"``'s choice, ``(init, residual, statistic)``; None for tasks
            without a rule.
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


_HS_ALIASES = {"gsa": "gsa_hs", "sfim": "sfim_hs", "glp": "glp_hs"}


def classic_method(task: str, name: str) -> str:
    """The baseline registry key of a classic start by name (``"gsa"`` is GSA-HS for ``hs``).

    Raises:
        ValueError: for a task without classic methods or a name it does not have.
    """
    from .baselines import HS_FUSION, PANSHARPENING

    key = name.replace("-", "_")
    if task == "pan":
        if key not in PANSHARPENING:
            raise ValueError(
                f"unknown classic method {name!r} for pansharpening; use one of {', '.join(PANSHARPENING)}"
            )
        return key
    if task == "hs":
        key = _HS_ALIASES.get(key, key)
        if key != "exp" and key not in HS_FUSION:
            raise ValueError(f"unknown classic method {name!r} for HS fusion; use one of exp, {', '.join(HS_FUSION)}")
        return key
    raise ValueError(f"the {task} task has no classic method to start from; use 'none'")


def _classic_hs(
    name: str, hsi: Tensor, guide: Tensor, srf: Tensor, factor: int, spatial: str | LinearOperator
) -> Tensor:
    from .baselines import HS_FUSION

    key = classic_method("hs", name)
    if key == "exp":
        return imresize(hsi, scale=factor)
    kind: str | LinearOperator = spatial
    if isinstance(spatial, str):
        kind = "gaussian" if spatial in ("gaussian", "mtf") else "block"
    return HS_FUSION[key](hsi, guide, factor=factor, srf=srf, spatial=kind)


def _classic_pan(name: str, ms: Tensor, pan: Tensor, ratio: int) -> Tensor:
    from .baselines import PANSHARPENING

    return PANSHARPENING[classic_method("pan", name)](ms, pan, ratio=ratio)


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
    """
    hsi, guide = _image(hsi, "hsi"), _image(guide, "guide")
    factor = _check_factor(factor, "factor")
    c, k = hsi.shape[1], guide.shape[1]
    srf = torch.as_tensor(srf, dtype=torch.float64)
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
    if normalize_srf:
        sums = srf.sum(dim=1, keepdim=True)
        if (sums <= 0).any():
            raise ValueError("a row of the response matrix sums to zero or less; it cannot be normalised")
        srf = srf / sums
    _check_sizes(hsi, guide, factor, "the HS image")
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
        classic=lambda name: _classic_hs(name, hsi, guide, srf32, factor, spatial),
    )


#: The MS degradation of the pansharpening loss when none is given: the authors' bicubic. The
#: sensor's MTF (``spatial="mtf"``) is right only for an MS image made that way (Wald protocol,
#: ``gdd simulate``): on the authors' pan_im4 it cost 8 dB (README, "Never worse than classic").
PAN_SPATIAL: Literal["bicubic", "mtf"] = "bicubic"


def pan_problem(
    ms: Tensor,
    pan: Tensor,
    ratio: int,
    *,
    full_resolution: bool = False,
    ms_mask: Tensor | None = None,
    pan_mask: Tensor | None = None,
    spatial: Literal["bicubic", "mtf"] = PAN_SPATIAL,
    gnyq: float | tuple[float, ...] = 0.29,
    mixture: Tensor | None = None,
) -> Problem:
    """Pansharpening: w * MSE(down(x), ms) + gradient_mse(mix(x) - pan) (authors' loss).

    ``down`` is MATLAB's bicubic decimation (the authors') or, with ``spatial="mtf"``, the
    sensor's MTF-matched filter and decimation (Wald protocol) with Nyquist gains ``gnyq``
    (:data:`gdd.sensors.SENSORS`; one value or one per band). ``mix`` is a learned C x C band
    mixture initialised to diag(randn(C)), as in the authors' code: every mixed band is matched
    to the PAN's gradients. ``w`` is 10 at reduced resolution and 100 at full resolution (the
    authors' note). ``ms_mask``/``pan_mask`` (True = data) leave nodata pixels out of their term.
    ``mixture`` (C x C) fixes the band mixture instead of learning it (tiles of one scene share
    the mixture learned on one of them).
    """
    ms, pan = _image(ms, "ms"), _image(pan, "pan")
    ratio = _check_factor(ratio, "ratio")
    if pan.shape[1] != 1:
        raise ValueError(f"the PAN image must have one band, got {pan.shape[1]}")
    _check_sizes(ms, pan, ratio, "the MS image")
    c = ms.shape[1]
    weight = 100.0 if full_resolution else 10.0
    pan_c = pan.expand(1, c, *pan.shape[-2:])
    lr_mask, hr_mask = _mask(ms_mask, ms, "the MS image's"), _mask(pan_mask, pan, "the PAN's")

    if spatial not in ("bicubic", "mtf"):
        raise ValueError(f"spatial must be 'bicubic' or 'mtf', got {spatial!r}")
    fixed = None if mixture is None else torch.as_tensor(mixture, dtype=torch.float32)
    if fixed is not None and fixed.shape != (c, c):
        raise ValueError(f"the band mixture must be {c} x {c}, got {tuple(fixed.shape)}")

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
        classic=lambda name: _classic_pan(name, ms, pan, ratio),
        auto_start=lambda: pan_start(ms, pan, ratio, ms_mask=lr_mask, pan_mask=hr_mask),
    )


def pan_linearity(
    ms: Tensor, pan: Tensor, ratio: int, *, ms_mask: Tensor | None = None, pan_mask: Tensor | None = None
) -> float:
    """R²: the share of the PAN's variance, reduced to the MS grid (MATLAB's bicubic), that a
    linear mixture of the MS bands with an offset explains (least squares over the pixels with
    data in both images)."""
    ms, pan = _image(ms, "ms").double(), _image(pan, "pan").double()
    low = imresize(pan, scale=1 / ratio)
    a = ms[0].reshape(ms.shape[1], -1).T
    y = low.reshape(-1)
    keep = torch.ones_like(y, dtype=torch.bool)
    if ms_mask is not None:
        keep &= ms_mask.reshape(-1) > 0
    if pan_mask is not None:
        keep &= imresize(pan_mask.double(), scale=1 / ratio).reshape(-1) > 1 - 1e-6
    a, y = a[keep], y[keep]
    if y.numel() <= a.shape[1] + 1 or float(y.var()) == 0:
        return 1.0
    a = torch.cat([a, torch.ones_like(y)[:, None]], dim=1)
    coef = torch.linalg.lstsq(a, y[:, None]).solution
    return float(1 - (y - (a @ coef)[:, 0]).var() / y.var())


def pan_start(
    ms: Tensor, pan: Tensor, ratio: int, *, ms_mask: Tensor | None = None, pan_mask: Tensor | None = None
) -> tuple[str, bool, float]:
    """``init="auto"`` for pansharpening: ``(init, residual, R²)`` by :data:`PAN_LINEAR_R2`."""
    r2 = pan_linearity(ms, pan, ratio, ms_mask=ms_mask, pan_mask=pan_mask)
    return ("gsa", False, r2) if r2 >= PAN_LINEAR_R2 else ("sfim", True, r2)


def flash_problem(
    noisy: Tensor, guide: Tensor, *, noisy_mask: Tensor | None = None, guide_mask: Tensor | None = None
) -> Problem:
    """Flash/no-flash denoising: MSE(x, noisy), with the flash image as guide.

    The denoising comes from the network's structure and the limited number of steps.
    Nodata pixels of the no-flash image (``noisy_mask`` False) are left out of the loss.
    """
    noisy, guide = _image(noisy, "noisy"), _image(guide, "guide")
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
    )


def preset_for(task: Task, device: torch.device) -> tuple[Budget, Preset]:
    """The authors' settings on a GPU, the CPU settings on a CPU."""
    budget: Budget = "cpu" if device.type == "cpu" else "authors"
    return budget, PRESETS[(task, budget)]


def _tame(classic: Tensor, observed: Tensor) -> Tensor:
    """A classic image clamped, per band, to the observed image's range widened by half its span.

    SFIM divides by a low-pass of the PAN equalised to each MS band, which nears zero where a
    band is dark and the PAN bright (it gave -915 on a WorldView tile whose MS spans 0 to 0.62);
    a start that far out poisons every iterate of the residual fit. Values inside the widened
    range (all of them on pan_im4 and the Landsat pair) are left as they are.
    """
    observed = observed.to(classic)
    lo = observed.amin(dim=(0, 2, 3), keepdim=True)
    hi = observed.amax(dim=(0, 2, 3), keepdim=True)
    margin = 0.5 * (hi - lo)
    return torch.nan_to_num(classic).clamp(lo - margin, hi + margin)


def solve(
    problem: Problem,
    *,
    device: str = "auto",
    seed: int = 0,
    budget: Budget | None = None,
    iterations: int | None = None,
    width: int | None = None,
    log_every: int = 50,
    callback: Callable[[int, Tensor, float], None] | None = None,
    fast: dict[str, object] | None = None,
    **overrides: object,
) -> FitResult:
    """Fit GDD to a problem with its task's preset (authors' on GPU, CPU preset on CPU).

    Args:
        problem: from :func:`hs_problem`, :func:`pan_problem` or :func:`flash_problem`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        seed: seeds weights, code, learnable operators and the per-step noise.
        budget: ``"authors"`` or ``"cpu"``; by default from the device.
        iterations, width: override the preset.
        log_every: steps between host synchronisations.
        callback: ``callback(step, x, loss)`` at log steps.
        fast: fast-path settings of :class:`gdd.fusion.FitConfig` (``channels_last``, ``amp``,
            ``compile``, ``fused_adam``, ``running_stats``, ``lr_final``), e.g.
            ``{"compile": "reduce-overhead"}``; none by default.
        overrides: other :class:`Preset` fields (``noise_std``, ``lr``, ``depth``, ``sharing``,
            ``guard_threshold``, ``average_last``, ``weights``).
    """
    kwargs: dict[str, Any] = dict(
        device=device, seed=seed, budget=budget, iterations=iterations, width=width, log_every=log_every, fast=fast
    )
    setups = _start_setups(problem, kwargs, overrides)
    results = []
    for k, setup in enumerate(setups):
        shifted = _shifted(callback, k * setup.config.iterations)
        result = fit(
            setup.model,
            setup.terms,
            problem.guide,
            setup.config,
            callback=shifted,
            base=setup.base,
            classic=setup.classic,
        )
        results.append(_finish(result, problem, setup))
    return _mean_of_starts(results, setups)


def _start_setups(problem: Problem, kwargs: dict[str, Any], overrides: dict[str, object]) -> list[_Setup]:
    """The setup of the preset's start and of each of its ``more_starts``."""
    first = _setup(problem, overrides=dict(overrides), **kwargs)
    setups = [first]
    for init, warm, residual in first.preset.more_starts:
        # A warm start given by the caller holds for every start.
        warm = overrides.get("warm_start", warm)  # type: ignore[assignment]
        more = {**overrides, "init": init, "warm_start": warm, "residual": residual, "more_starts": ()}
        setups.append(_setup(problem, overrides=more, **kwargs))
    return setups


def _shifted(
    callback: Callable[[int, Tensor, float], None] | None, offset: int
) -> Callable[[int, Tensor, float], None] | None:
    """The callback with its steps counted after those of the earlier starts."""
    if callback is None or offset == 0:
        return callback
    return lambda step, x, loss: callback(step + offset, x, loss)


def _objective(x: Tensor, terms: Sequence[Term]) -> float:
    """The data objective of an estimate under the (fitted) operators of ``terms``, on x's device."""
    moved = [
        replace(
            t,
            operator=t.operator.to(x.device),
            target=t.target.to(x.device, torch.float32),
            mask=None if t.mask is None else t.mask.to(x.device, torch.float32),
        )
        for t in terms
    ]
    with torch.no_grad():
        return float(data_objective(x, moved))


def _mean_of_starts(results: list[FitResult], setups: list[_Setup]) -> FitResult:
    """One start's result as it is; several: the mean of their results, checked on the data.

    The mean is scored on the data objective with the first start's fitted operators; with
    ``keep_best``, the first start's classic image is returned instead when it fits the
    observations better than the mean (it did not in our measurements; the check keeps the
    promise of ``keep_best`` for the mean too).
    """
    if len(results) == 1:
        return results[0]
    first, setup = results[0], setups[0]
    x = torch.stack([r.x for r in results]).mean(dim=0)
    mean = _objective(x, setup.terms)
    choice: dict[str, object] = {
        "chosen": "mean",
        "mean": mean,
        "starts": [dict(r.choice) for r in results],
        "classic_name": first.choice.get("classic_name", "gsa"),
        "start": first.choice.get("start", "none"),
    }
    classic = setup.base if setup.base is not None else setup.classic
    if classic is not None:
        choice["classic"] = _objective(classic.to(x.device), setup.terms)
        if setup.config.keep_best and float(choice["classic"]) < mean:  # type: ignore[arg-type]
            x, choice["chosen"] = classic.to(x.device), "classic"
    n = first.config.iterations
    history = [(step + k * n, value) for k, r in enumerate(results) for step, value in r.history]
    return replace(
        first,
        x=x,
        loss=np.concatenate([r.loss for r in results]),
        seconds=sum(r.seconds for r in results),
        seconds_per_iteration=sum(r.seconds_per_iteration for r in results) / len(results),
        compile_seconds=sum(r.compile_seconds for r in results),
        rollbacks=sum(r.rollbacks for r in results),
        history=history,
        choice=choice,
    )


@dataclass
class _Setup:
    config: FitConfig
    preset: Preset
    budget: Budget
    model: GuidedDeepDecoder
    terms: list[Term]
    base: Tensor | None
    classic: Tensor | None
    rule: dict[str, object] = field(default_factory=dict)
    """How ``init="auto"`` chose the start (empty otherwise)."""


def _setup(
    problem: Problem,
    *,
    device: str,
    seed: int,
    budget: Budget | None,
    iterations: int | None,
    width: int | None,
    log_every: int,
    overrides: dict[str, object],
    fast: dict[str, object] | None = None,
) -> _Setup:
    """The configuration, network, terms and classic images of ``solve`` for one problem."""
    switches = {"channels_last", "amp", "compile", "fused_adam", "running_stats", "lr_final"}
    if fast and set(fast) - switches:
        raise ValueError(
            f"unknown fast-path settings: {', '.join(sorted(set(fast) - switches))}; use {', '.join(sorted(switches))}"
        )
    dev = resolve_device(device)
    chosen, preset = preset_for(problem.task, dev)
    if budget is not None:
        if budget not in ("authors", "cpu"):
            raise ValueError(f"budget must be 'authors' or 'cpu', got {budget!r}")
        chosen, preset = budget, PRESETS[(problem.task, budget)]
    unknown = set(overrides) - set(Preset.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    if iterations is not None:
        overrides["iterations"] = iterations
    if width is not None:
        overrides["width"] = width
    preset = replace(preset, **overrides)  # type: ignore[arg-type]
    rule: dict[str, object] = {}
    if preset.init == "auto":
        if problem.auto_start is None:
            raise ValueError(f"the {problem.task} problem has no rule to choose its start; name a classic method")
        init, residual, r2 = problem.auto_start()
        # A residual asked for by the caller stands; the rule chooses the rest.
        residual = bool(overrides.get("residual", residual))
        preset = replace(preset, init=init, residual=residual)
        rule = {"pan_r2": r2, "threshold": PAN_LINEAR_R2, "init": init, "residual": residual}
    base = classic = None
    if preset.init != "none":
        if problem.classic is None:
            raise ValueError(f"the {problem.task} problem has no classic method to start from; use init='none'")
        base = _tame(problem.classic(preset.init).float(), problem.baseline())
    elif problem.classic is not None:
        # No classic start: GSA is still computed (it is cheap) to compare with on the data
        # terms and, with keep_best, as the fallback when GDD fits the observations worse.
        try:
            classic = _tame(problem.classic("gsa").float(), problem.baseline())
        except ValueError:
            classic = None
        if classic is not None and not torch.isfinite(classic).all():
            classic = None
    config = FitConfig(
        iterations=preset.iterations,
        lr=preset.lr,
        noise_std=preset.noise_std,
        seed=seed,
        device=str(dev),
        log_every=log_every,
        guard_threshold=preset.guard_threshold,
        average_last=min(preset.average_last, preset.iterations),
        keep_best=preset.keep_best,
        warm_start=min(preset.warm_start, preset.iterations) if base is not None else 0,
        residual=preset.residual,
        residual_scale=preset.residual_scale,
        **(fast or {}),  # type: ignore[arg-type]
    )
    # Small images get fewer levels: the coarsest must stay at least 2 x 2.
    depth = min(preset.depth, max_depth(*problem.guide.shape[-2:]))
    if depth < 1:
        raise ValueError(
            f"the guide ({problem.guide.shape[-2]} x {problem.guide.shape[-1]}) is too small; "
            "it needs at least 3 x 3 pixels"
        )
    preset = replace(preset, depth=depth)
    with seeded(seed):
        model = GuidedDeepDecoder(
            problem.guide.shape[1],
            problem.out_channels,
            width=preset.width,
            depth=preset.depth,
            sharing=preset.sharing,
        )
        terms = problem.make_terms()
    weights = dict(preset.weights)
    for t in terms:
        t.weight = weights.get(t.name, t.weight)
    return _Setup(config, preset, chosen, model, terms, base, classic, rule)


def _finish(result: FitResult, problem: Problem, setup: _Setup) -> FitResult:
    preset, config, base = setup.preset, setup.config, setup.base
    result.details = {"task": problem.task, "budget": setup.budget, "preset": dict(preset.__dict__), **problem.details}
    if setup.rule:
        result.details["start_rule"] = setup.rule
    if result.choice:
        result.choice["classic_name"] = preset.init if base is not None else "gsa"
        kinds = [k for k, on in (("warm", config.warm_start), ("residual", config.residual)) if on]
        result.choice["start"] = "none" if base is None else "+".join(kinds) or "none"
    return result


def solve_many(
    problems: Sequence[Problem],
    *,
    device: str = "auto",
    seeds: Sequence[int] | int = 0,
    budget: Budget | None = None,
    iterations: int | None = None,
    width: int | None = None,
    log_every: int = 50,
    fast: dict[str, object] | None = None,
    **overrides: object,
) -> list[FitResult]:
    """Fit K same-task, same-shape problems in one stacked run (:func:`gdd.stacked.fit_many`).

    Problem k gets what ``solve(problems[k], seed=seeds[k], ...)`` gives, up to floating-point
    rounding. Several images, tiles or random restarts (one problem K times, K seeds) fill a
    GPU that one small image leaves idle.

    Args:
        problems: K problems of one task with guides of one shape.
        seeds: one seed per problem, or one for all.
        fast: fast-path settings of :class:`gdd.fusion.FitConfig` (``amp``, ``compile``,
            ``fused_adam``, ``lr_final``), none by default.
        device, budget, iterations, width, log_every, overrides: as in :func:`solve`.
    """
    from .stacked import fit_many

    if not problems:
        raise ValueError("solve_many needs at least one problem")
    if len({p.task for p in problems}) != 1:
        raise ValueError("solve_many needs problems of one task")
    seed_list = [seeds] * len(problems) if isinstance(seeds, int) else list(seeds)
    if len(seed_list) != len(problems):
        raise ValueError(f"solve_many needs one seed per problem: {len(problems)} problems, {len(seed_list)} seeds")
    kwargs: dict[str, Any] = dict(budget=budget, iterations=iterations, width=width, log_every=log_every, fast=fast)
    # starts[k][j]: problem k's setup of start j (the preset's, then its more_starts).
    starts = [_start_setups(p, {**kwargs, "device": device, "seed": s}, overrides) for p, s in zip(problems, seed_list)]
    fitted: list[list[FitResult]] = [[] for _ in problems]
    for j in range(len(starts[0])):
        setups = [per_problem[j] for per_problem in starts]
        with_base = {s.base is not None for s in setups}
        if len(with_base) != 1:
            raise ValueError("solve_many needs every problem to start from a classic image, or none to")
        starts_here = {(s.preset.init, s.config.residual) for s in setups}
        if len(starts_here) != 1:
            raise ValueError(
                "init='auto' chose different starts for the problems of solve_many "
                f"({', '.join(sorted(f'{i}, residual={r}' for i, r in starts_here))}); name one with init="
            )
        bases = [s.base for s in setups] if True in with_base else None  # type: ignore[misc]
        classics = None if bases is not None else [s.classic for s in setups]
        results = fit_many(
            [s.model for s in setups],
            [s.terms for s in setups],
            [p.guide for p in problems],
            setups[0].config,
            seeds=seed_list,
            bases=bases,  # type: ignore[arg-type]
            classics=classics,
        )
        for k, (r, p, s) in enumerate(zip(results, problems, setups)):
            fitted[k].append(_finish(r, p, s))
    return [_mean_of_starts(r, s) for r, s in zip(fitted, starts)]
