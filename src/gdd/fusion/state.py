"""What a fit hands on to the next one: its parameters, Adam's state, and both at its best step.

A fit that goes on (``fit(..., moments=...)``) continues the optimisation of the one it follows
instead of starting Adam afresh, whose first steps move every weight by about the learning
rate. A fit chosen at an earlier scored step goes on from that step (:func:`at_best`), as the
second training round of early stopping does (Goodfellow, Bengio and Courville, *Deep
Learning*, 2016, section 7.8, algorithm 7.3).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor

from .config import FitConfig, FitResult
from .objective import Term

__all__ = ["Moments", "adam", "at_best", "restore_moments", "snapshot", "trainable"]

#: Adam's state of each fitted parameter: its step count and running means (``exp_avg``, ``exp_avg_sq``).
Moments = list[dict[str, Tensor]]


def trainable(params: Sequence[Tensor], terms: Sequence[Sequence[Term]]) -> tuple[list[Tensor], list[int | None]]:
    """The networks' ``params``, then each problem's learnable operator parameters, each once, and whose.

    Returns:
        The parameters and their owners: ``None`` for the given ones (the networks'), ``k``
        for one of problem k's operators.
    """
    out = list(params)
    owners: list[int | None] = [None] * len(out)
    seen = {id(p) for p in out}
    for i, ts in enumerate(terms):
        for t in ts:
            for p in t.operator.parameters():
                if p.requires_grad and id(p) not in seen:
                    out.append(p)
                    owners.append(i)
                    seen.add(id(p))
    return out, owners


def adam(params: list[Tensor], config: FitConfig) -> torch.optim.Optimizer:
    """A fresh Adam over ``params`` at the configured rate (fused when asked).

    Unless fused, Adam updates all the weights at once (``foreach``, torch's own choice on
    GPUs, where on a CPU torch would loop over the weights one by one): the same arithmetic,
    the same results bit for bit, in fewer calls.

    One Adam over stacked weights is K independent Adams: its update is element-wise.
    """
    if config.fused_adam is None:
        return torch.optim.Adam(params, lr=config.lr, foreach=True)
    try:
        return torch.optim.Adam(params, lr=config.lr, fused=config.fused_adam)
    except RuntimeError as exc:  # PyTorch before 2.4 fuses Adam on GPUs only
        warnings.warn(f"fused Adam is not available here ({str(exc).splitlines()[0]}); using the default Adam",
                      stacklevel=2)  # fmt: skip
        return torch.optim.Adam(params, lr=config.lr)


def restore_moments(optimizer: torch.optim.Optimizer, params: Sequence[Tensor], moments: Moments) -> None:
    """Set Adam's state of ``params`` to an earlier fit's (``FitResult.moments``), checked against them.

    Raises:
        ValueError: when the moments are of other parameters (their number or shapes differ).
    """
    shapes = [tuple(p.shape) for p in params]
    theirs = [tuple(m["exp_avg"].shape) if "exp_avg" in m else shape for m, shape in zip(moments, shapes)]
    if len(moments) != len(params) or theirs != shapes:
        raise ValueError("the moments to go on from are of other parameters than this fit's")
    for p, m in zip(params, moments):
        if m:
            optimizer.state[p] = {k: v.detach().clone().to(p.device) for k, v in m.items()}


def snapshot(weights: Sequence[Tensor], moments: Moments) -> tuple[list[Tensor], Moments]:
    """A copy of the parameters and of Adam's state as they are now (``FitResult.best_state``)."""
    return [w.detach().clone() for w in weights], [{k: v.detach().clone() for k, v in m.items()} for m in moments]


def at_best(result: FitResult, terms: Sequence[Term]) -> FitResult:
    """The fit as it stood at its best scored step, to go on from there (``fit(..., moments=...)``).

    A copy of its network with the weights of that step, its learnable operators (those of
    ``terms``, the ones it fitted) set back in place, its residual's scale and Adam's state then;
    the estimate is the result's (the best iterate, when it was the one chosen).

    Raises:
        ValueError: for a result that kept no best step (``FitResult.best_state``) or whose
            state does not match its network and ``terms``.
    """
    if result.best_state is None:
        raise ValueError("the fit kept no state of its best step")
    weights, moments = result.best_state
    model = copy.deepcopy(result.model)
    params, _ = trainable([p for p in model.parameters() if p.requires_grad], [terms])
    scaled = result.residual is not None
    if len(params) + scaled != len(weights) or any(p.shape != w.shape for p, w in zip(params, weights)):
        raise ValueError("the state of the best step is of other parameters than this fit's")
    with torch.no_grad():
        for p, w in zip(params, weights):
            p.copy_(w)
    residual = None if result.residual is None else (result.residual[0], weights[-1].clone())
    return replace(result, model=model, residual=residual, moments=moments, best_state=None)
