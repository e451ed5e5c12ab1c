"""Fit GDD to K same-task, same-shape problems in one stacked run: ``solve_many``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..fusion import FitResult, fit_many, resolve_device
from .holdout import choose_model
from .plan import _finish, _plan_starts
from .presets import Budget, choose_preset
from .solve import _combine, checked_problem
from .tasks import Problem

__all__ = ["solve_many"]


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
    rounding, where each runs to its cap. With a stop, the run ends when no problem has improved
    for the patience (and ``until`` waits for every problem): a problem may go on past its own
    stop and return a later step, the best of its own scored ones. Several images, tiles or
    random restarts (one problem K times, K seeds) fill a GPU that one small image leaves idle.

    Args:
        problems: K problems of one task with guides of one shape.
        seeds: one seed per problem, or one for all.
        fast: fast-path settings of :class:`gdd.fusion.FitConfig` (``amp``, ``compile``,
            ``fused_adam``, ``lr_final``) over the device's defaults (channels-last is never used:
            ``vmap`` has no path for it).
        device, budget, iterations, width, log_every, overrides: as in :func:`solve`.
    """
    if not problems:
        raise ValueError("solve_many needs at least one problem")
    if len({p.task for p in problems}) != 1:
        raise ValueError("solve_many needs problems of one task")
    seed_list = [seeds] * len(problems) if isinstance(seeds, int) else list(seeds)
    if len(seed_list) != len(problems):
        raise ValueError(f"solve_many needs one seed per problem: {len(problems)} problems, {len(seed_list)} seeds")
    # The stacked networks run under vmap, which has no channels-last path.
    fast = {"channels_last": False, **(fast or {})}
    kwargs: dict[str, Any] = dict(budget=budget, iterations=iterations, width=width, log_every=log_every, fast=fast)
    _, preset = choose_preset(problems[0].task, resolve_device(device), budget, dict(overrides))
    if preset.holdout > 0 and any(p.check is not None for p in problems):
        # As in solve: each problem's given degradations checked first, the better ones fitted.
        checked = [checked_problem(p) if p.check is not None else (p, None) for p in problems]
        results = solve_many([p for p, _ in checked], device=device, seeds=seed_list, **kwargs, **overrides)  # type: ignore[arg-type]
        for result, (_, info) in zip(results, checked):
            if info is not None:
                result.details["degradations"] = info
        return results
    if all(p.alternatives for p in problems) and preset.holdout > 0:
        # As in solve: each problem's degradation model chosen by its classic start's held-out
        # error; the problems of one model are fitted stacked.
        choices = [choose_model(p, preset.holdout, seed=s, init=preset.init) for p, s in zip(problems, seed_list)]
        out: list[FitResult | None] = [None] * len(problems)
        for name in dict.fromkeys(c[0] for c in choices):
            members = [k for k, c in enumerate(choices) if c[0] == name]
            subs = [problems[k].alternatives[name]() for k in members]
            fitted = _solve_many_starts(subs, [seed_list[k] for k in members], device, kwargs, overrides)
            for k, result in zip(members, fitted):
                _, errors, ahead = choices[k]
                result.details["model_choice"] = {
                    "rule": "holdout-classic",
                    "held_out": errors,
                    "chosen": name,
                    **ahead,
                }
                result.details["spatial"] = name
                out[k] = result
        return [r for r in out if r is not None]
    return _solve_many_starts(list(problems), seed_list, device, kwargs, overrides)


def _solve_many_starts(
    problems: list[Problem], seeds: list[int], device: str, kwargs: dict[str, Any], overrides: dict[str, object]
) -> list[FitResult]:
    """``solve_many`` of one degradation model: each start stacked over the problems that start alike."""
    # starts[k][j]: problem k's plan of start j (the preset's, then its more_starts).
    starts = [_plan_starts(p, {**kwargs, "device": device, "seed": s}, overrides) for p, s in zip(problems, seeds)]
    fitted: list[list[FitResult]] = [[] for _ in problems]
    for j in range(len(starts[0])):
        plans = [per_problem[j] for per_problem in starts]
        with_base = {s.base is not None for s in plans}
        if len(with_base) != 1:
            raise ValueError("solve_many needs every problem to start from a classic image, or none to")
        starts_here = {(s.preset.init, s.config.residual) for s in plans}
        if len(starts_here) != 1 and plans[0].validation is None:
            raise ValueError(
                "init='auto' chose different starts for the problems of solve_many "
                f"({', '.join(sorted(f'{i}, residual={r}' for i, r in starts_here))}); name one with init="
            )
        # Problems whose held-out validation chose different starts are stacked by start.
        groups: dict[tuple[str, bool], list[int]] = {}
        for k, plan in enumerate(plans):
            groups.setdefault((plan.preset.init, plan.config.residual), []).append(k)
        for members in groups.values():
            group = [plans[k] for k in members]
            bases = [s.base for s in group] if True in with_base else None
            classics = None if bases is not None else [s.classic for s in group]
            held = [s.validation for s in group] if group[0].validation is not None else None
            results = fit_many(
                [s.model for s in group],
                [s.terms for s in group],
                [problems[k].guide for k in members],
                group[0].config,
                seeds=[seeds[k] for k in members],
                bases=bases,  # type: ignore[arg-type]
                classics=classics,
                validations=held,
            )
            for k, r in zip(members, results):
                fitted[k].append(_finish(r, problems[k], plans[k]))
    return [_combine(r, s, p, None) for r, s, p in zip(fitted, starts, problems)]
