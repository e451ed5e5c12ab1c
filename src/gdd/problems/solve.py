"""Fit GDD to a problem with its task's preset: one start, several starts, or K problems stacked.

``solve`` plans each start of the preset (:func:`plan_fit`: the settings, the network, the data
terms and the classic images), fits it, and returns the start's result or the mean of several
(:data:`gdd.problems.ENSEMBLE`); ``solve_many`` does the same for K problems in one stacked run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..fusion import FitConfig, FitResult, Term, data_objective, fit, fit_many, resolve_device, seeded
from ..models import GuidedDeepDecoder, max_depth
from .classic import PAN_LINEAR_R2, tame
from .presets import Budget, Preset, check_fast, choose_preset, fit_config
from .tasks import Problem

__all__ = ["FitPlan", "plan_fit", "solve", "solve_many"]


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
    plans = _plan_starts(problem, kwargs, overrides)
    results = []
    for k, plan in enumerate(plans):
        shifted = _shifted(callback, k * plan.config.iterations)
        result = fit(
            plan.model,
            plan.terms,
            problem.guide,
            plan.config,
            callback=shifted,
            base=plan.base,
            classic=plan.classic,
        )
        results.append(_finish(result, problem, plan))
    return _mean_of_starts(results, plans)


def _plan_starts(problem: Problem, kwargs: dict[str, Any], overrides: dict[str, object]) -> list[FitPlan]:
    """The plan of the preset's start and of each of its ``more_starts``."""
    first = plan_fit(problem, overrides=dict(overrides), **kwargs)
    plans = [first]
    for init, warm, residual in first.preset.more_starts:
        # A warm start given by the caller holds for every start.
        warm = overrides.get("warm_start", warm)  # type: ignore[assignment]
        more = {**overrides, "init": init, "warm_start": warm, "residual": residual, "more_starts": ()}
        plans.append(plan_fit(problem, overrides=more, **kwargs))
    return plans


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


def _mean_of_starts(results: list[FitResult], plans: list[FitPlan]) -> FitResult:
    """One start's result as it is; several: the mean of their results, checked on the data.

    The mean is scored on the data objective with the first start's fitted operators; with
    ``keep_best``, the first start's classic image is returned instead when it fits the
    observations better than the mean (it did not in our measurements; the check keeps the
    promise of ``keep_best`` for the mean too).
    """
    if len(results) == 1:
        return results[0]
    first, plan = results[0], plans[0]
    x = torch.stack([r.x for r in results]).mean(dim=0)
    mean = _objective(x, plan.terms)
    choice: dict[str, object] = {
        "chosen": "mean",
        "mean": mean,
        "starts": [dict(r.choice) for r in results],
        "classic_name": first.choice.get("classic_name", "gsa"),
        "start": first.choice.get("start", "none"),
    }
    classic = plan.base if plan.base is not None else plan.classic
    if classic is not None:
        choice["classic"] = _objective(classic.to(x.device), plan.terms)
        if plan.config.keep_best and float(choice["classic"]) < mean:  # type: ignore[arg-type]
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
    """

    config: FitConfig
    preset: Preset
    budget: Budget
    model: GuidedDeepDecoder
    terms: list[Term]
    base: Tensor | None
    classic: Tensor | None
    rule: dict[str, object] = field(default_factory=dict)


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
        base = tame(problem.classic(preset.init).float(), problem.baseline())
    elif problem.classic is not None:
        # No classic start: GSA is still computed (it is cheap) to compare with on the data
        # terms and, with keep_best, as the fallback when GDD fits the observations worse.
        try:
            classic = tame(problem.classic("gsa").float(), problem.baseline())
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
        terms = problem.make_terms()
    weights = dict(preset.weights)
    for t in terms:
        t.weight = weights.get(t.name, t.weight)
    return FitPlan(config, preset, chosen, model, terms, base, classic, rule)


def _finish(result: FitResult, problem: Problem, plan: FitPlan) -> FitResult:
    """The result with what was set up (task, budget, preset, start rule) and how it started."""
    preset, config, base = plan.preset, plan.config, plan.base
    result.details = {"task": problem.task, "budget": plan.budget, "preset": dict(preset.__dict__), **problem.details}
    if plan.rule:
        result.details["start_rule"] = plan.rule
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
    """Fit K same-task, same-shape problems in one stacked run (:func:`gdd.fusion.fit_many`).

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
    if not problems:
        raise ValueError("solve_many needs at least one problem")
    if len({p.task for p in problems}) != 1:
        raise ValueError("solve_many needs problems of one task")
    seed_list = [seeds] * len(problems) if isinstance(seeds, int) else list(seeds)
    if len(seed_list) != len(problems):
        raise ValueError(f"solve_many needs one seed per problem: {len(problems)} problems, {len(seed_list)} seeds")
    kwargs: dict[str, Any] = dict(budget=budget, iterations=iterations, width=width, log_every=log_every, fast=fast)
    # starts[k][j]: problem k's plan of start j (the preset's, then its more_starts).
    starts = [_plan_starts(p, {**kwargs, "device": device, "seed": s}, overrides) for p, s in zip(problems, seed_list)]
    fitted: list[list[FitResult]] = [[] for _ in problems]
    for j in range(len(starts[0])):
        plans = [per_problem[j] for per_problem in starts]
        with_base = {s.base is not None for s in plans}
        if len(with_base) != 1:
            raise ValueError("solve_many needs every problem to start from a classic image, or none to")
        starts_here = {(s.preset.init, s.config.residual) for s in plans}
        if len(starts_here) != 1:
            raise ValueError(
                "init='auto' chose different starts for the problems of solve_many "
                f"({', '.join(sorted(f'{i}, residual={r}' for i, r in starts_here))}); name one with init="
            )
        bases = [s.base for s in plans] if True in with_base else None  # type: ignore[misc]
        classics = None if bases is not None else [s.classic for s in plans]
        results = fit_many(
            [s.model for s in plans],
            [s.terms for s in plans],
            [p.guide for p in problems],
            plans[0].config,
            seeds=seed_list,
            bases=bases,  # type: ignore[arg-type]
            classics=classics,
        )
        for k, (r, p, s) in enumerate(zip(results, problems, plans)):
            fitted[k].append(_finish(r, p, s))
    return [_mean_of_starts(r, s) for r, s in zip(fitted, starts)]
