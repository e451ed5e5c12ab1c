"""Fit GDD to a problem with its task's preset: one start, several starts, or K problems stacked.

``solve`` plans each start of the preset (:func:`plan_fit`: the settings, the network, the data
terms and the classic images), fits it, and returns the start's result, or of several starts
the fit, their mean or the classic image that predicts the held-out pixels best (the HS
presets' two starts, :data:`gdd.problems.ENSEMBLE`); :func:`gdd.problems.solve_many` does the
same for K problems in one stacked run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..fusion import FitResult, Term, fit, resolve_device, seeded
from ..fusion.objective import SEPARATED, pixel_errors, runner_up, separation
from ..fusion.state import at_best
from .classic import tame
from .holdout import choose_model, holdout_error
from .plan import FitPlan, _finish, _plan_starts, plan_fit
from .presets import Budget, choose_preset
from .tasks import Problem

__all__ = ["FitPlan", "plan_fit", "solve"]


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
    observe: Callable[[str, Tensor], None] | None = None,
    **overrides: object,
) -> FitResult:
    """Fit GDD to a problem with its task's preset (authors' on GPU, CPU preset on CPU).

    With held-out validation (the presets' ``holdout``), a seeded share of the observed pixels
    is left out of the loss (:mod:`gdd.problems.holdout`); their error chooses the start of a
    pansharpening fit, the iterate returned (and when to stop) and whether the classic image is
    returned instead; then the chosen estimate gets every pixel back (``refit``, or its classic
    start made from every pixel).

    Args:
        problem: from :func:`hs_problem`, :func:`pan_problem` or :func:`flash_problem`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        seed: seeds weights, code, learnable operators and the per-step noise.
        budget: ``"authors"`` or ``"cpu"``; by default from the device.
        iterations, width: override the preset.
        log_every: steps between host synchronisations.
        callback: ``callback(step, x, loss)`` at log steps. Start k's steps (from 0) are counted
            after k caps of ``iterations``; the steps of a chosen fit going on with every pixel
            come after the last start's last step, one such fit after another, so they may pass
            ``starts x iterations`` (:meth:`Preset.steps`).
        observe: ``observe(name, x)`` receives every candidate the run considers (iterates at
            log steps, the final, the classic, a refit's), for measurements in hindsight (a
            benchmark's oracle); it changes nothing.
        fast: fast-path settings of :class:`gdd.fusion.FitConfig` (``channels_last``, ``amp``,
            ``compile``, ``fused_adam``, ``running_stats``, ``lr_final``), e.g.
            ``{"compile": "reduce-overhead"}``, over the device's defaults (on a CPU channels-last,
            and bf16 where the CPU has it in hardware: :func:`gdd.fusion.fastpath.device_defaults`);
            ``gdd.fusion.fastpath.PLAIN`` runs the plain float32 path.
        overrides: other :class:`Preset` fields (``noise_std``, ``lr``, ``depth``, ``sharing``,
            ``guard_threshold``, ``average_last``, ``weights``).
    """
    if not isinstance(problem, Problem):
        raise TypeError(
            "solve takes a problem (gdd.problems.hs_problem, pan_problem or flash_problem), "
            f"got {type(problem).__name__}"
        )
    kwargs: dict[str, Any] = dict(
        device=device, seed=seed, budget=budget, iterations=iterations, width=width, log_every=log_every, fast=fast
    )
    _, preset = choose_preset(problem.task, resolve_device(device), budget, dict(overrides))
    if problem.check is not None and preset.holdout > 0:
        # The given degradations against ones estimated from the pair, on the pair's halves
        # the estimate did not see; the better predictor is the problem fitted.
        fitted, checked = checked_problem(problem)
        result = solve(fitted, callback=callback, observe=observe, **kwargs, **overrides)  # type: ignore[arg-type]
        result.details["degradations"] = checked
        return result
    if problem.alternatives and preset.holdout > 0:
        # The degradation model whose consistent classic start predicts the held-out pixels
        # best (:func:`choose_model`; no network fitted) is the one fitted.
        chosen, errors, ahead = choose_model(problem, preset.holdout, seed=seed, init=preset.init, observe=observe)
        sub = problem.alternatives[chosen]()
        result = _solve_starts(sub, kwargs, overrides, callback, _named(observe, f"{chosen}: "))
        result.details["model_choice"] = {"rule": "holdout-classic", "held_out": errors, "chosen": chosen, **ahead}
        result.details["spatial"] = chosen
        return result
    return _solve_starts(problem, kwargs, overrides, callback, observe)


def checked_problem(problem: Problem) -> tuple[Problem, dict[str, object]]:
    """The problem to fit after its ``check`` (which must be set), and the check's details with its seconds.

    The problem under the estimated degradations where they predict the pair better, else the
    problem itself; neither is checked again.
    """
    assert problem.check is not None
    start = time.perf_counter()
    better, checked = problem.check()
    checked["seconds"] = time.perf_counter() - start
    return better or replace(problem, check=None), checked


def checked_degradations(problem: Problem) -> tuple[Tensor, Tensor]:
    """The response (K, C) and blur kernel, on the CPU, of an HS problem under a kernel blur (its check's choice)."""
    spatial, response = (t.operator for t in problem.make_terms())
    srf, kernel = (torch.as_tensor(v).detach().cpu() for v in (response.srf, spatial.kernel))  # type: ignore[union-attr]
    return srf, kernel


def _fit_starts(
    problem: Problem,
    kwargs: dict[str, Any],
    overrides: dict[str, object],
    callback: Callable[[int, Tensor, float], None] | None,
    observe: Callable[[str, Tensor], None] | None,
) -> tuple[list[FitResult], list[FitPlan]]:
    """Every start of the preset fitted (on the held-out problem when there is one), as fitted."""
    plans = _plan_starts(problem, kwargs, overrides)
    results = []
    for k, plan in enumerate(plans):
        shifted = _shifted(callback, k * plan.config.iterations)
        named = _named(observe, f"start {k + 1}: " if len(plans) > 1 else "")
        result = fit(
            plan.model,
            plan.terms,
            problem.guide,
            plan.config,
            callback=shifted,
            base=plan.base,
            classic=plan.classic,
            validation=plan.validation,
            observe=named,
        )
        results.append(_finish(result, problem, plan))
    return results, plans


def _held_out_candidates(results: list[FitResult], plans: list[FitPlan]) -> dict[str, Tensor]:
    """The estimates :func:`_combine` may return from several starts' fits, as fitted.

    Each start's result, the mean of them all and (with ``keep_best``) the first start's classic
    image, made without the held-out pixels.
    """
    xs = [r.x for r in results]
    candidates = {f"start {k + 1}": x for k, x in enumerate(xs)}
    candidates["mean"] = torch.stack(xs).mean(dim=0)
    classic = plans[0].classic_image
    if classic is not None and plans[0].config.keep_best:
        candidates["classic"] = classic.to(xs[0].device)
    return candidates


def _solve_starts(
    problem: Problem,
    kwargs: dict[str, Any],
    overrides: dict[str, object],
    callback: Callable[[int, Tensor, float], None] | None,
    observe: Callable[[str, Tensor], None] | None,
) -> FitResult:
    """``solve`` of one degradation model: every start of the preset fitted, then combined (:func:`_combine`)."""
    results, plans = _fit_starts(problem, kwargs, overrides, callback, observe)
    return _combine(results, plans, problem, observe, callback)


def _combine(
    results: list[FitResult],
    plans: list[FitPlan],
    problem: Problem,
    observe: Callable[[str, Tensor], None] | None,
    callback: Callable[[int, Tensor, float], None] | None = None,
) -> FitResult:
    """The starts' results as one, with every pixel back where pixels were held out.

    Without held-out pixels: the one start's result, or the mean of several (:func:`_mean_of_starts`).
    With them, several starts give several candidates: each start's result, their mean and the
    classic image; the one of lowest held-out error is returned, and only the fits it is made
    of get every pixel back. ``callback`` sees those fits' steps counted after every start's.
    """
    if plans[0].validation is None:
        return _mean_of_starts(results, plans)
    # The refits' steps come right after the last start's (its cap, or where it stopped).
    after = (len(plans) - 1) * plans[0].config.iterations + results[-1].steps
    if len(results) == 1:
        return _every_pixel(results[0], problem, plans[0], observe, _shifted(callback, after))
    validation = plans[0].validation
    candidates = _held_out_candidates(results, plans)
    scores = {k: holdout_error(x, validation) for k, x in candidates.items()}
    chosen = min(scores, key=scores.__getitem__)
    at_noise = None
    if plans[0].preset.average_at_noise:
        at_noise = _at_the_noise(chosen, candidates, scores, plans[0], problem)
    if at_noise is not None:
        chosen = "mean"
    if observe is not None:
        observe("mean of the starts, as fitted", candidates["mean"])
    used = [k for k in range(len(results)) if chosen in ("mean", f"start {k + 1}")]
    every = {}
    for k in used:
        named = _named(observe, f"start {k + 1}: ")
        every[k] = _every_pixel(results[k], problem, plans[k], named, _shifted(callback, after))
        after += int(every[k].choice.get("refit_steps", 0))  # type: ignore[call-overload]
    first, plan = results[0], plans[0]
    if chosen == "classic":
        classic = _classic_from_every_pixel(problem, plan)
        if classic is None:  # no classic method to make it again: the one that was scored
            classic = plan.classic_image
        assert classic is not None
        x = classic.to(first.x.device)
    else:
        x = torch.stack([every[k].x for k in used]).mean(dim=0)
    choice: dict[str, object] = {
        **scores,
        "chosen": chosen,
        "held_out": scores[chosen],
        "rule": "holdout",
        **runner_up(chosen, scores, {k: pixel_errors(x, validation) for k, x in candidates.items()}),
        **({"at_noise": at_noise} if at_noise is not None else {}),
        "starts": [dict((every.get(k) or r).choice) for k, r in enumerate(results)],
        "classic_name": first.choice.get("classic_name", "gsa"),
        "start": first.choice.get("start", "none"),
    }
    refits = sum(every[k].seconds - results[k].seconds for k in used)
    merged = _merged(results)
    return replace(merged, x=x, seconds=merged.seconds + refits, choice=choice)


#: A fit whose held-out error is at most this many times the observation's noise variance
#: (:func:`gdd.estimate.noise.noise_variance`) has fitted all but about the noise.
AT_NOISE = 2.0


def _at_the_noise(
    chosen: str, candidates: dict[str, Tensor], scores: dict[str, float], plan: FitPlan, problem: Problem
) -> dict[str, object] | None:
    """Where the mean of the fits replaces the single fit of lowest held-out error, the record of why; else None.

    When the single fit chosen predicts the held-out pixels to within :data:`AT_NOISE` times the
    noise variance of the observation (estimated from its kept pixels alone), its lead over the
    mean of the fits is mostly the noise of those few pixels; if it is also less than
    :data:`gdd.fusion.objective.SEPARATED` standard errors ahead of the mean, the two are not
    told apart, and the mean, whose squared error is at most the mean of the fits', is returned
    (with the preset's ``average_at_noise``, ``--average-at-noise``; off by default).
    Only for the HS task: the estimate regresses each band on the others, which needs many
    correlated bands, and it was measured there alone (an MS image's few bands leave much of the
    signal unexplained, which would read as noise).
    """
    if problem.task != "hs" or problem.observation is None or plan.validation is None or chosen[:6] != "start ":
        return None
    from ..estimate.noise import noise_variance

    variance = noise_variance(problem.observation, next(t.mask for t in plan.terms if t.name == problem.observed))
    ahead = separation(candidates[chosen], candidates["mean"], plan.validation)
    if not (scores[chosen] <= AT_NOISE * variance and ahead < SEPARATED):
        return None
    return {"instead_of": chosen, "noise_variance": variance, "times_noise": scores[chosen] / variance, "ahead": ahead}


def _named(observe: Callable[[str, Tensor], None] | None, prefix: str) -> Callable[[str, Tensor], None] | None:
    """The observer with every candidate's name prefixed."""
    if observe is None or not prefix:
        return observe
    return lambda name, x: observe(prefix + name, x)


def _classic_from_every_pixel(problem: Problem, plan: FitPlan) -> Tensor | None:
    """The plan's classic image (its start, or GSA without one) made from every observed pixel."""
    if problem.classic is None:
        return None
    name = plan.preset.init if plan.preset.init != "none" else "gsa"
    return tame(problem.classic(name).float(), problem.baseline())


def _every_pixel(
    result: FitResult,
    problem: Problem,
    plan: FitPlan,
    observe: Callable[[str, Tensor], None] | None,
    callback: Callable[[int, Tensor, float], None] | None = None,
) -> FitResult:
    """The held-out fit's chosen estimate with every observed pixel back in it.

    A chosen classic image is made again from every pixel. A chosen GDD estimate with ``refit``
    (the default) goes on with every pixel (:func:`_go_on`): from where the fit ended, or from
    the earlier step chosen, with the weights and Adam's state of that step
    (:func:`gdd.fusion.state.at_best`). Without ``refit``, a residual fit (base + s (G - G_0))
    gets the classic start made from every pixel as its base, and any other fit is returned as
    fitted (without the held-out pixels).
    """
    chosen = str(result.choice.get("chosen", "final"))
    result.choice["held_out"] = result.choice.get(chosen)
    if chosen == "classic":
        every = _classic_from_every_pixel(problem, plan)
        if every is None:
            return result
        if observe is not None:
            observe("classic, every pixel", every)
        return replace(result, x=every.to(result.x.device))
    residual = not plan.preset.refit and plan.preset.residual and plan.base is not None
    every = _classic_from_every_pixel(problem, plan) if residual else None
    if every is not None and plan.base is not None:
        # The correction the network learned, on the start made from every pixel.
        x = result.x + (every.to(result.x.device) - plan.base.to(result.x.device))
        if observe is not None:
            observe("start from every pixel", x)
        return replace(result, x=x, choice={**result.choice, "base": "every pixel"})
    if plan.preset.refit:
        # The chosen fit goes on with every pixel: from where it ended, or from the earlier
        # step chosen, with its weights and Adam's state then.
        return _go_on(at_best(result, plan.terms) if chosen == "best" else result, problem, plan, observe, callback)
    return result


def _go_on(
    result: FitResult,
    problem: Problem,
    plan: FitPlan,
    observe: Callable[[str, Tensor], None] | None,
    callback: Callable[[int, Tensor, float], None] | None = None,
) -> FitResult:
    """The held-out fit, from its chosen estimate (where it ended or the earlier step chosen), continued on every pixel.

    The same network, code, learned operators, Adam's moments and (for a residual) G_0 and
    scale, on the classic start made from every pixel, with the held-out pixels back in the data
    terms: the optimisation goes on as if it had not stopped (a fresh Adam's first steps, each
    of about the learning rate in every weight, would first throw much of the fit away), until
    those pixels are fitted as well as the kept ones were when the fit was chosen (their mean
    squared error at most the kept pixels' then; Goodfellow, Bengio and Courville, *Deep
    Learning*, 2016, algorithm 7.3) or until its data objective has stopped falling
    (``FitConfig.plateau``), then for the averaging window, for at most as many steps again as
    the first fit's cap. A refit from scratch would spend the steps of the first fit again.
    """
    with seeded(plan.config.seed):
        full = {t.name: t for t in problem.make_terms()}
    terms = [
        replace(t, target=full[t.name].target, mask=full[t.name].mask) if t.name in full else t for t in plan.terms
    ]
    # A residual goes on from its classic start made from every pixel (the one it was fitted
    # from had the held-out pixels filled from their neighbours).
    base = None
    if result.residual is not None:
        every = _classic_from_every_pixel(problem, plan)
        base = plan.base if every is None else every
    assert plan.validation is not None
    kept = [replace(t, loss="mse", weight=1.0) for t in plan.terms if t.name == problem.observed]
    config = replace(
        plan.config,
        warm_start=0,
        keep_best=False,
        patience=0,
        plateau=plan.preset.patience,
        until=holdout_error(result.x, kept),
        classic_candidate=False,
    )
    fitted = fit(
        result.model,
        terms,
        problem.guide,
        config,
        z=result.z,
        base=base,
        resume=result.residual,
        moments=result.moments,
        validation=plan.validation,
        observe=_named(observe, "refit: "),
        callback=callback,
    )
    if observe is not None:
        observe("refit: result", fitted.x)
    choice = {
        **result.choice,
        "refit": "continued",
        "refit_from": result.choice.get("best_step") if result.choice.get("chosen") == "best" else result.steps,
        "refit_steps": fitted.steps,
        "refit_cap": config.iterations,
        "refit_until": config.until,
    }
    return replace(result, x=fitted.x, seconds=result.seconds + fitted.seconds, choice=choice)


def _shifted(
    callback: Callable[[int, Tensor, float], None] | None, offset: int
) -> Callable[[int, Tensor, float], None] | None:
    """The callback with its steps counted after those of the earlier starts."""
    if callback is None or offset == 0:
        return callback
    return lambda step, x, loss: callback(step + offset, x, loss)


def _objective(x: Tensor, terms: Sequence[Term]) -> float:
    """The data objective of an estimate under the (fitted) operators of ``terms``, on x's device."""
    return holdout_error(x, list(terms))


def _mean_of_starts(results: list[FitResult], plans: list[FitPlan]) -> FitResult:
    """Without held-out pixels: one start's result as it is; several: the mean of their results.

    The mean and the first start's classic image are scored on the data objective with the first
    start's fitted operators, and with ``keep_best`` the classic image is returned instead when
    it scores better.
    """
    if len(results) == 1:
        return results[0]
    first, plan = results[0], plans[0]
    x = torch.stack([r.x for r in results]).mean(dim=0)
    choice: dict[str, object] = {
        "chosen": "mean",
        "rule": "residual",
        "mean": _objective(x, plan.terms),
        "starts": [dict(r.choice) for r in results],
        "classic_name": first.choice.get("classic_name", "gsa"),
        "start": first.choice.get("start", "none"),
    }
    classic = plan.classic_image
    if classic is not None:
        score = _objective(classic.to(x.device), plan.terms)
        choice["classic"] = score
        if plan.config.keep_best and score < choice["mean"]:  # type: ignore[operator]
            x, choice["chosen"] = classic.to(x.device), "classic"
    return replace(_merged(results), x=x, choice=choice)


def _merged(results: list[FitResult]) -> FitResult:
    """The first start's result with every start's losses, timings and history (steps counted on)."""
    first = results[0]
    n = first.config.iterations
    history = [(step + k * n, value) for k, r in enumerate(results) for step, value in r.history]
    return replace(
        first,
        loss=np.concatenate([r.loss for r in results]),
        seconds=sum(r.seconds for r in results),
        seconds_per_iteration=sum(r.seconds_per_iteration for r in results) / len(results),
        compile_seconds=sum(r.compile_seconds for r in results),
        rollbacks=sum(r.rollbacks for r in results),
        history=history,
    )
