"""Held-out validation: a seeded share of the observed pixels left out of the fit and used to score.

The one mechanism by which :func:`gdd.problems.solve` chooses without a reference. A seeded
random subset of the low-resolution pixels (the HS image, the MS image; for flash, the noisy
image) is left out of the loss; the error of an estimate's degraded output on those pixels
measures how well it predicts observations it was not fitted to (the split of cross-validation,
applied to the pixels of one image pair). It scores the iterates of the fit (which one is
returned, when to stop), the classic candidates (computed from the observations with the
held-out pixels filled from their neighbours, so that they never see them either), and the
start of a pansharpening fit. A score on the fitted pixels themselves rewards whatever fits
them closest, noise included; a score on held-out pixels does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor

from ..fusion import Term, data_objective, seeded
from ..fusion.objective import pixel_errors, runner_up
from .classic import PAN_STARTS, consistent, tame
from .pixels import fill, holdout_mask, scored_pixels
from .presets import HOLDOUT
from .tasks import Problem

__all__ = [
    "HOLDOUT",
    "choose_model",
    "choose_start",
    "fill",
    "held_out",
    "holdout_error",
    "holdout_mask",
]


def held_out(problem: Problem, fraction: float, *, seed: int) -> tuple[Problem, list[Term]]:
    """The problem with a seeded share of its observed pixels held out, and the terms that score them.

    Args:
        problem: a problem whose task holds pixels out (``problem.remake`` is set).
        fraction: the share of the observed (valid) low-resolution pixels held out.
        seed: seeds the draw.

    Returns:
        The problem to fit (the held-out pixels are nodata there and filled from their neighbours
        for the classic methods), and the validation terms: the observation's term, its mask the
        held-out pixels, its loss the mean squared error.

    Raises:
        ValueError: for a problem that cannot hold pixels out, or a share outside (0, 1).
    """
    if problem.remake is None or problem.observation is None:
        raise ValueError(f"the {problem.task} problem cannot hold pixels out")
    y, valid = problem.observation, problem.observation_mask
    height, width = y.shape[-2:]
    ok = scored_pixels(valid, problem.valid, height, width)
    held = holdout_mask(height, width, fraction, seed=seed, valid=ok)
    keep = ~held if valid is None else (~held) & valid.bool().cpu()
    fitted = problem.remake(fill(y, keep), keep)
    with seeded(seed):
        terms = problem.make_terms()
    validation = [replace(t, mask=held.float(), loss="mse", weight=1.0) for t in terms if t.name == problem.observed]
    if not validation:
        raise ValueError(f"the {problem.task} problem has no term named {problem.observed!r}")
    return fitted, validation


def holdout_error(x: Tensor, validation: list[Term]) -> float:
    """The error of an estimate (1, C, H, W) on the held-out pixels (the validation terms).

    Any terms may be given: it is their objective, computed on the estimate's device.
    """
    moved = [
        replace(
            t,
            operator=t.operator.to(x.device),
            target=t.target.to(x.device, torch.float32),
            mask=None if t.mask is None else t.mask.to(x.device, torch.float32),
        )
        for t in validation
    ]
    with torch.no_grad():
        return float(data_objective(x.float(), moved))


def choose_start(fitted: Problem, validation: list[Term]) -> tuple[str, bool, dict[str, object]]:
    """``init="auto"``: the classic start (:data:`PAN_STARTS`) of lowest held-out error.

    Each candidate is computed from ``fitted``, whose held-out pixels are filled from their
    neighbours, so it never saw them.

    Returns:
        ``(init, residual, rule)``, the rule recording every candidate's held-out error, the
        runner-up and how far the chosen start is ahead of it (``separation``).
    """
    if fitted.classic is None:
        raise ValueError(f"the {fitted.task} problem has no classic method to start from")
    scores, errors = _classic_errors(fitted, validation, list(PAN_STARTS))
    if not scores:
        raise ValueError("no classic start could be computed from this pair")
    init = min(scores, key=lambda k: scores[k])
    rule = {"rule": "holdout", "holdout": scores, "init": init, "residual": PAN_STARTS[init]}
    return init, PAN_STARTS[init], {**rule, **runner_up(init, scores, errors)}


def choose_model(
    problem: Problem,
    fraction: float,
    *,
    seed: int,
    init: str = "auto",
    observe: Callable[[str, Tensor], None] | None = None,
) -> tuple[str, dict[str, float], dict[str, object]]:
    """The degradation model (``problem.alternatives``) under which a classic start predicts held-out pixels best.

    For each model the pair's classic start is made consistent with the kept pixels under that
    model (:func:`gdd.problems.classic.consistent`), then scored on the held-out ones (the same pixels for
    every model: the draw depends on the seed only). The starts scored are those ``init`` may
    fit from (``"auto"``: every one of :data:`PAN_STARTS`; ``"none"``: GSA, the image the fit is
    compared with), and a model's error is its best start's. No network is fitted. ``observe``
    receives each image scored, as in :func:`gdd.problems.solve`.

    Returns:
        ``(name, errors, ahead)``: the chosen model, each model's held-out error, and the
        runner-up with how far the chosen model is ahead of it (``{"runner_up": ...,
        "separation": ...}``, :func:`gdd.fusion.objective.separation`; empty with one model).

    Raises:
        ValueError: for a problem without alternatives or classic images.
    """
    if not problem.alternatives:
        raise ValueError(f"the {problem.task} problem has no degradation models to choose from")
    names = list(PAN_STARTS) if init == "auto" else ["gsa" if init == "none" else init]
    errors: dict[str, float] = {}
    pixels: dict[str, Tensor] = {}
    for model, make in problem.alternatives.items():
        fitted, validation = held_out(make(), fraction, seed=seed)
        if fitted.classic is None:
            raise ValueError(f"the {problem.task} problem has no classic image to choose its degradation with")
        observed = next(t for t in fitted.make_terms() if t.name == fitted.observed)
        scores, per = _classic_errors(
            fitted, validation, names, made_consistent_with=observed, observe=observe, label=model
        )
        errors[model] = min(scores.values(), default=float("inf"))
        if scores:
            pixels[model] = per[min(scores, key=lambda k: scores[k])]
    chosen = min(errors, key=lambda k: errors[k])
    return chosen, errors, runner_up(chosen, errors, pixels)


def _classic_errors(
    fitted: Problem,
    validation: list[Term],
    names: list[str],
    *,
    made_consistent_with: Term | None = None,
    observe: Callable[[str, Tensor], None] | None = None,
    label: str = "",
) -> tuple[dict[str, float], dict[str, Tensor]]:
    """The held-out error of each named classic image of ``fitted`` (tamed), the ones not finite left out.

    With ``made_consistent_with``, each image is first made consistent with that term's kept
    pixels (:func:`gdd.problems.classic.consistent`); ``observe`` then receives it. Also each
    image's errors at the held-out pixels (:func:`gdd.fusion.objective.pixel_errors`).
    """
    assert fitted.classic is not None
    scores, pixels = {}, {}
    for name in names:
        image = tame(fitted.classic(name).float(), fitted.baseline())
        if made_consistent_with is not None:
            t = made_consistent_with
            image = consistent(image, t.operator, t.target, t.mask)  # type: ignore[arg-type]
            if observe is not None:
                observe(f"{label}: {name}, consistent with the kept pixels", image)
        if torch.isfinite(image).all():
            scores[name] = holdout_error(image, validation)
            pixels[name] = pixel_errors(image, validation)
    return scores, pixels
