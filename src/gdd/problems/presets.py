"""The presets of the three tasks and the one mapping from a preset to a fit's settings.

Where each setting comes from (the authors' demos, or a measurement) is in :mod:`gdd.problems`
and beside each entry of :data:`PRESETS`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Literal

import torch

from ..fusion import FitConfig
from ..fusion.fastpath import device_defaults
from ..models import Sharing

__all__ = [
    "ENSEMBLE",
    "FAST_PATH",
    "HOLDOUT",
    "PRESETS",
    "WARM_SHARE",
    "Budget",
    "Preset",
    "Task",
    "check_fast",
    "choose_preset",
    "fit_config",
    "preset_for",
    "warm_steps",
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
    """Choose the result among the iterates and the classic image (see :class:`gdd.fusion.FitConfig`):
    by the held-out error when ``holdout`` is set, else by the data objective."""
    holdout: float = 0.0
    """The share of the observed low-resolution pixels left out of the loss and used to choose
    (:mod:`gdd.problems.holdout`); 0: no held-out validation."""
    patience: int = 0
    """With ``holdout``: stop after this many scorings without a better held-out error (0: never)."""
    refit: bool = False
    """With ``holdout``: after choosing, give the chosen fit every pixel back: it goes on with
    every pixel from its chosen estimate (where it ended, or the earlier step chosen, with the
    weights and Adam's state then) until the held-out pixels are fitted as well as the kept ones
    were or its data objective stops falling (False: keep the chosen estimate as fitted,
    without the held-out pixels)."""
    warm_start: int = 0
    """Steps fitting the network to the classic start before the data fit; unless the caller
    names them, at most a fifth of the fit's steps (:func:`warm_steps`)."""
    residual: bool = True
    """The classic start enters as a residual (see :class:`gdd.fusion.FitConfig`)."""
    residual_scale: float = 0.0
    """The initial value of the residual's learned scale (see :class:`gdd.fusion.FitConfig`)."""
    average_at_noise: bool = False
    """With several starts and ``holdout`` (HS only): where the single fit of lowest held-out
    error predicts the held-out pixels to within twice the HS image's noise variance (estimated
    from that image alone) and is less than 2 standard errors ahead of the mean of the fits,
    return the mean (:func:`gdd.problems.solve._at_the_noise`). Off by default: on a second seed
    of the pairs it was scored on it lost as often as it won (docs/choices.md)."""
    more_starts: tuple[tuple[str, int, bool], ...] = ()
    """Further starts, each ``(init, warm_start, residual)``, fitted one after another with the
    same settings and seed (a ``warm_start`` override holds for every start). With held-out
    validation the result is the one of each start's fit, their mean and the classic image that
    predicts the held-out pixels best; without, the mean of every start's result. Fits from
    different starts err differently: on ``pan_im4`` the mean of the SFIM residual (33.57 dB)
    and the GSA warm start (34.79 dB) is 34.93 dB (``--ensemble``, :data:`ENSEMBLE`). A caller
    who names ``init`` gets that start alone unless they name ``more_starts`` too."""

    def steps(self, iterations: int | None = None) -> int:
        """The steps of every start together, at ``iterations`` per start (default the preset's).

        A chosen fit's going on with every pixel (``refit``) comes after them, for at most as
        many steps again per fit; it stops by itself, so its length is not known in advance.
        """
        return (self.iterations if iterations is None else iterations) * (1 + len(self.more_starts))


#: The share of the observed pixels every preset holds out to choose by (cross-validation's usual 10 %).
HOLDOUT = 0.1

#: Every preset chooses by held-out validation (:mod:`gdd.problems.holdout`) and stops when the
#: held-out error has not improved for 8 scorings (200 steps; 20 scorings, 500 steps, at the
#: authors' budgets of thousands of steps). A chosen GDD estimate then gets every pixel back
#: (``refit``): the fit goes on with every pixel from its chosen estimate (where it ended, or
#: the earlier step chosen) until the held-out ones are fitted as well as the kept ones were or
#: its data objective stops falling.
#: Returned as fitted, with its classic start made from every pixel, it was 0.04-0.30 dB below
#: that start on the small noisy pair of ``tests/test_headline.py`` at each of six seeds; the
#: refit was not below it.
_CHOOSE: dict[str, Any] = {"keep_best": True, "holdout": HOLDOUT, "patience": 8, "refit": True}
_CHOOSE_LONG: dict[str, Any] = {**_CHOOSE, "patience": 20}
_PAN_START: dict[str, Any] = {"init": "auto", "warm_start": 100}

#: The HS presets' second start: the network alone (the authors' start), no warm start. Held-out
#: pixels then choose among the fit from GSA-HS, this fit, their mean and GSA-HS itself.
_HS_STARTS: dict[str, Any] = {"init": "gsa", "more_starts": (("none", 0, False),)}

#: The largest share of a fit's steps a warm start takes unless the caller names its length: the
#: pansharpening presets' 100 steps are a fifth of the CPU preset's 500, and a run capped lower
#: keeps that share, so that it still fits the data for most of its steps (at ``--iterations
#: 100`` a warm start of 100 steps left no step to fit the data; docs/speed.md measures both).
WARM_SHARE = Fraction(1, 5)


def warm_steps(warm_start: int, iterations: int) -> int:
    """A preset's warm start in a fit of ``iterations`` steps: at most :data:`WARM_SHARE` of them.

    Example:
        >>> warm_steps(100, 500), warm_steps(100, 8001), warm_steps(100, 100), warm_steps(0, 100)
        (100, 100, 20, 0)
    """
    return min(warm_start, int(iterations * WARM_SHARE))


#: ``--ensemble``: the starts fitted one after another and averaged, per task. The first start's
#: warm start is the task's preset's (the command line gives the preset's, shortened as it is).
ENSEMBLE: dict[str, tuple[tuple[str, int, bool], ...]] = {"pan": (("sfim", 100, True), ("gsa", 100, False))}

PRESETS: dict[tuple[Task, Budget], Preset] = {
    # Authors' HS demo and paper: width 64, 20001 iterations, noise 0.03, guard 1e-5, shared weights.
    # On both budgets GDD is fitted twice, from GSA-HS as a residual and from no classic image,
    # and held-out pixels choose the result (docs/choices.md).
    ("hs", "authors"): Preset(
        width=64,
        iterations=20001,
        noise_std=0.03,
        guard_threshold=1e-5,
        sharing="all",
        average_last=100,
        **_HS_STARTS,
        **_CHOOSE_LONG,
    ),
    # CPU: measured on CAVE balloons 128 x 128, x8 (docs/presets.md): at 600 steps the authors' HS weight
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
        **_HS_STARTS,
        **_CHOOSE,
    ),
    # Authors' PAN demo: width 64, 8001 iterations, noise 0.01, guard 0.1, per-level guide decoder and URU.
    # On both budgets GDD starts from a classic fusion chosen from the pair by held-out MS
    # pixels (init "auto"): 100 steps fit the network to it, then either the network's own
    # output (GSA) or a correction of SFIM as a residual; held-out pixels choose the result
    # (docs/choices.md).
    ("pan", "authors"): Preset(
        width=64,
        iterations=8001,
        noise_std=0.01,
        guard_threshold=0.1,
        sharing="partial",
        average_last=100,
        **_PAN_START,
        **_CHOOSE_LONG,
    ),
    ("pan", "cpu"): Preset(
        width=64,
        iterations=500,
        noise_std=0.01,
        guard_threshold=0.1,
        sharing="partial",
        average_last=50,
        **_PAN_START,
        **_CHOOSE,
    ),
    # Authors' denoising demo: width 32, 1001 iterations, noise 0.01, guard 0.01.
    ("flash", "authors"): Preset(
        width=32,
        iterations=1001,
        noise_std=0.01,
        guard_threshold=0.01,
        sharing="partial",
        average_last=50,
        **_CHOOSE_LONG,
    ),
    # CPU: width 32 costs about 6 s per step on the authors' 706 x 774 pair, width 16 2.2 s; on a
    # CAVE stand-in (docs/presets.md) width 16, 250 steps and the mean of the last 50 estimates denoise
    # about as well as the authors' 1001 steps.
    ("flash", "cpu"): Preset(
        width=16, iterations=250, noise_std=0.01, guard_threshold=0.01, sharing="partial", average_last=50, **_CHOOSE
    ),
}


def preset_for(task: Task, device: torch.device) -> tuple[Budget, Preset]:
    """The authors' settings on a GPU, the CPU settings on a CPU."""
    budget: Budget = "cpu" if device.type == "cpu" else "authors"
    return budget, PRESETS[(task, budget)]


def choose_preset(
    task: Task, device: torch.device, budget: Budget | None, overrides: dict[str, object]
) -> tuple[Budget, Preset]:
    """The preset of ``task`` at ``budget`` (by default from the device) with the caller's overrides.

    Raises:
        ValueError: for an unknown budget or an override that is no :class:`Preset` field.
    """
    chosen, preset = preset_for(task, device)
    if budget is not None:
        if budget not in ("authors", "cpu"):
            raise ValueError(f"budget must be 'authors' or 'cpu', got {budget!r}")
        chosen, preset = budget, PRESETS[(task, budget)]
    unknown = set(overrides) - set(Preset.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    if "init" in overrides and "more_starts" not in overrides:
        # A start the caller names is fitted alone.
        overrides = {**overrides, "more_starts": ()}
    preset = replace(preset, **overrides)  # type: ignore[arg-type]
    if "warm_start" not in overrides:
        # A warm start the caller does not name keeps to its share of a shorter run.
        n = preset.iterations
        more = tuple((init, warm_steps(warm, n), residual) for init, warm, residual in preset.more_starts)
        preset = replace(preset, warm_start=warm_steps(preset.warm_start, n), more_starts=more)
    return chosen, preset


#: The fast-path switches of :class:`gdd.fusion.FitConfig` a caller may set (``fast=``).
FAST_PATH = frozenset({"channels_last", "amp", "compile", "fused_adam", "running_stats", "lr_final"})


def check_fast(fast: dict[str, object] | None) -> None:
    """Refuse fast-path settings that are not :data:`FAST_PATH` switches (``ValueError``)."""
    unknown = sorted(set(fast or ()) - FAST_PATH)
    if unknown:
        raise ValueError(f"unknown fast-path settings: {', '.join(unknown)}; use {', '.join(sorted(FAST_PATH))}")


def fit_config(
    preset: Preset,
    *,
    seed: int,
    device: torch.device | str,
    log_every: int,
    fast: dict[str, object] | None,
    classic_start: bool,
) -> FitConfig:
    """The settings of one fit with ``preset``: the one place a :class:`Preset` becomes a :class:`FitConfig`.

    Args:
        preset: the task's preset with the caller's overrides.
        seed: seeds the network, code, learnable operators and noise.
        device: the resolved device.
        log_every: steps between host synchronisations.
        fast: fast-path switches (:data:`FAST_PATH`) over the device's defaults
            (:func:`gdd.fusion.fastpath.device_defaults`; ``gdd.fusion.fastpath.PLAIN`` turns
            them off).
        classic_start: whether the fit starts from a classic image; without one there is no
            warm start.

    Example:
        >>> fit_config(PRESETS[("flash", "cpu")], seed=0, device="cpu", log_every=50, fast=None,
        ...            classic_start=False).iterations
        250
    """
    switches = {**device_defaults(torch.device(device), preset.width), **(fast or {})}
    return FitConfig(
        iterations=preset.iterations,
        lr=preset.lr,
        noise_std=preset.noise_std,
        seed=seed,
        device=str(device),
        log_every=log_every,
        guard_threshold=preset.guard_threshold,
        average_last=min(preset.average_last, preset.iterations),
        keep_best=preset.keep_best,
        patience=preset.patience if preset.holdout > 0 else 0,
        warm_start=min(preset.warm_start, preset.iterations) if classic_start else 0,
        residual=preset.residual,
        residual_scale=preset.residual_scale,
        **switches,  # type: ignore[arg-type]
    )
