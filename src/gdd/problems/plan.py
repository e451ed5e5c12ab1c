"""The plan of one start of :func:`gdd.problems.solve`: settings, network, data terms, classic images."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from ..fusion import FitConfig, FitResult, Term, resolve_device, seeded
from ..models import GuidedDeepDecoder, max_depth
from .classic import PAN_LINEAR_R2, tame
from .holdout import choose_start, held_out
from .presets import Budget, Preset, check_fast, choose_preset, fit_config
from .tasks import Problem

__all__ = ["FitPlan", "plan_fit"]


@dataclass
class FitPlan:
    """What :func:`solve` fits for one start of one problem.

    Attributes:
        config: the fit's settings (:func:`gdd.problems.presets.fit_config`).
        preset: the preset with the caller's overrides, the start chosen and the depth fitted to
            the guide.
        budget: the budget the preset comes from.
        model: the network, freshly initialised with the seed.
        terms: the data terms, their learnable operators initialised with the seed.
        base: the classic image the fit starts from (None without a classic start).
        classic: without a classic start, GSA's image to compare with (None where there is none).
        rule: how ``init="auto"`` chose the start (empty otherwise).
        validation: the held-out pixels' terms (None without held-out validation); ``terms``,
            ``base`` and ``classic`` are then those of the problem without them.
        overrides: the caller's preset fields this plan was made with.
    """

    config: FitConfig
    preset: Preset
    budget: Budget
    model: GuidedDeepDecoder
    terms: list[Term]
    base: Tensor | None
    classic: Tensor | None
    rule: dict[str, object] = field(default_factory=dict)
    validation: list[Term] | None = None
    overrides: dict[str, object] = field(default_factory=dict)

    @property
    def classic_image(self) -> Tensor | None:
        """The classic image the result is compared with: the start's, else GSA's (None if none)."""
        return self.base if self.base is not None else self.classic


def plan_fit(
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
) -> FitPlan:
    """The configuration, network, terms and classic images of one start of ``solve``.

    Args:
        problem: the problem to fit.
        device, seed, budget, iterations, width, log_every, fast: as in :func:`solve`.
        overrides: :class:`Preset` fields set by the caller (``iterations`` and ``width`` are
            added to it when given).

    Raises:
        ValueError: for unknown settings, a start the problem cannot make, or a guide too small.
    """
    check_fast(fast)
    dev = resolve_device(device)
    if iterations is not None:
        overrides["iterations"] = iterations
    if width is not None:
        overrides["width"] = width
    chosen, preset = choose_preset(problem.task, dev, budget, overrides)
    if not 0 <= preset.holdout < 1:
        raise ValueError(f"holdout must be a share between 0 and 1, got {preset.holdout}")
    fitted, validation = problem, None
    if preset.holdout > 0:
        fitted, validation = held_out(problem, preset.holdout, seed=seed)
    rule: dict[str, object] = {}
    if preset.init == "auto":
        if validation is not None and fitted.classic is not None:
            init, residual, rule = choose_start(fitted, validation)
        elif problem.auto_start is None:
            raise ValueError(f"the {problem.task} problem has no rule to choose its start; name a classic method")
        else:
            init, residual, r2 = problem.auto_start()
            rule = {"rule": "pan_r2", "pan_r2": r2, "threshold": PAN_LINEAR_R2, "init": init, "residual": residual}
        # A residual asked for by the caller stands; the rule chooses the rest.
        residual = bool(overrides.get("residual", residual))
        preset = replace(preset, init=init, residual=residual)
        rule["residual"] = residual
    base = classic = None
    if preset.init != "none":
        if fitted.classic is None:
            raise ValueError(f"the {problem.task} problem has no classic method to start from; use init='none'")
        base = tame(fitted.classic(preset.init).float(), fitted.baseline())
    elif fitted.classic is not None:
        # No classic start: GSA is still computed (it is cheap) to compare with and, with
        # keep_best, as the fallback when GDD predicts the observations worse.
        try:
            classic = tame(fitted.classic("gsa").float(), fitted.baseline())
        except ValueError:
            classic = None
        if classic is not None and not torch.isfinite(classic).all():
            classic = None
    config = fit_config(preset, seed=seed, device=dev, log_every=log_every, fast=fast, classic_start=base is not None)
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
        terms = fitted.make_terms()
    weights = dict(preset.weights)
    for t in terms:
        t.weight = weights.get(t.name, t.weight)
    return FitPlan(config, preset, chosen, model, terms, base, classic, rule, validation, dict(overrides))


def _finish(result: FitResult, problem: Problem, plan: FitPlan) -> FitResult:
    """The result with what was set up (task, budget, preset, start rule) and how it started."""
    preset, config, base = plan.preset, plan.config, plan.base
    result.details = {"task": problem.task, "budget": plan.budget, "preset": dict(preset.__dict__), **problem.details}
    if plan.validation is not None:
        held = int(sum(float(t.mask.sum()) for t in plan.validation if t.mask is not None))
        result.details["holdout"] = {"share": preset.holdout, "pixels": held, "steps_run": result.steps}
    if plan.rule:
        result.details["start_rule"] = plan.rule
    if base is not None:
        result.details["warm_start"] = config.warm_start
    if result.choice:
        if base is not None or problem.task != "flash":  # flash has no classic method
            result.choice["classic_name"] = preset.init if base is not None else "gsa"
        kinds = [k for k, on in (("warm", config.warm_start), ("residual", config.residual)) if on]
        result.choice["start"] = "none" if base is None else "+".join(kinds) or "none"
    return result


def _plan_starts(problem: Problem, kwargs: dict[str, Any], overrides: dict[str, object]) -> list[FitPlan]:
    """The plan of the preset's start and of each of its ``more_starts``."""
    first = plan_fit(problem, overrides=dict(overrides), **kwargs)
    plans = [first]
    for init, warm, residual in first.preset.more_starts:
        # A warm start given by the caller holds for every start.
        warm = overrides.get("warm_start", warm)  # type: ignore[assignment]
        more = {**overrides, "init": init, "warm_start": warm, "residual": residual, "more_starts": ()}
        plans.append(plan_fit(problem, overrides=more, **kwargs))
    if len(plans) > 1 and first.validation is not None:
        # Each start returns its network's estimate; the classic image is compared with them
        # and with their mean once all are fitted (:func:`gdd.problems.solve`).
        plans = [replace(p, config=replace(p.config, classic_candidate=False)) for p in plans]
    return plans
