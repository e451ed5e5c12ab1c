"""The authors' divergence guard, on the device, for one problem or K stacked ones."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .config import FitConfig

__all__ = ["DivergenceGuard"]


class DivergenceGuard:
    """The authors' divergence guard, on the device, one decision per problem.

    After ``guard_warmup`` steps, a loss more than ``guard_threshold`` above the mean loss of 20
    to 40 steps earlier marks a divergent step, and so does a loss that is not finite at any
    step: its gradient is kept out of Adam's moments, its estimate out of the averaged result,
    and the weights are restored from a snapshot refreshed every ``guard_every`` steps while the
    loss is sound. Every decision is a tensor (``torch.where``), so the host is never asked.
    (The authors copied every parameter to the host at every step and restored from 10 steps
    back, still letting Adam step with its stale moments.)

    The losses are (n,) for one problem (``owners=None``: its 0-d decision applies to every
    parameter) or (n, K) for K stacked problems, where ``owners[i]`` says whose parameter
    ``params[i]`` is: ``None`` for a stacked tensor (its first dimension is the problem), ``k``
    for a parameter of problem k alone (a learnable operator).

    Args:
        params: the parameters Adam steps.
        owners: whose each parameter is (K stacked problems), or None (one problem).
        config: ``guard_threshold``, ``guard_warmup`` and ``guard_every`` are read.
        k: the number of problems (1 with ``owners=None``).

    Example:
        >>> w = torch.zeros(3, requires_grad=True)
        >>> guard = DivergenceGuard([w], None, FitConfig(guard_threshold=0.1, guard_warmup=0))
        >>> guard.rollbacks.tolist()
        [0]
    """

    def __init__(
        self, params: list[Tensor], owners: Sequence[int | None] | None, config: FitConfig, k: int = 1
    ) -> None:
        if config.guard_threshold is None:
            raise ValueError("the divergence guard needs config.guard_threshold, got None")
        if owners is not None and len(owners) != len(params):
            raise ValueError(f"the guard needs one owner per parameter, got {len(owners)} for {len(params)}")
        self.params = params
        self.owners = None if owners is None else list(owners)
        self.threshold = float(config.guard_threshold)
        self.warmup = config.guard_warmup
        self.every = config.guard_every
        self.snapshot = [p.detach().clone() for p in params]
        self.rollbacks = torch.zeros(k, device=params[0].device, dtype=torch.int64)

    def _of(self, flags: Tensor, i: int) -> Tensor:
        """The decisions ``flags`` (0-d, or one per problem) as they apply to ``params[i]``."""
        if self.owners is None:
            return flags
        owner, p = self.owners[i], self.params[i]
        return flags.view(-1, *[1] * (p.ndim - 1)) if owner is None else flags[owner]

    @torch.no_grad()
    def step(self, step: int, losses: Tensor, optimizer: torch.optim.Optimizer) -> Tensor:
        """Take the optimizer step for ``step`` (loss in ``losses[step]``), guarded; the divergent flags.

        A loss that is not finite marks a divergent step at any step (the threshold's comparison
        would let a NaN through, and its gradient would poison Adam's moments for good); after
        the warm-up, so does a loss above the threshold. Returns the flags (0-d, or one per problem).
        """
        current = losses[step].clone()
        excess = current - losses[step - 40 : step - 20].mean(dim=0) if step >= 40 else None
        if step % self.every == 0:
            sound = excess <= self.threshold if excess is not None else current.isfinite()
            for i, (p, s) in enumerate(zip(self.params, self.snapshot)):
                s.copy_(torch.where(self._of(sound, i), p, s))
        bad = ~current.isfinite()
        if excess is not None and step >= self.warmup:
            bad |= ~(excess <= self.threshold)
        # A divergent step's gradient is dropped (zeros, NaN included), a sound one's kept as is.
        keep = ~bad
        for i, p in enumerate(self.params):
            if p.grad is not None:
                p.grad.copy_(torch.where(self._of(keep, i), p.grad, 0))
        optimizer.step()
        for i, (p, s) in enumerate(zip(self.params, self.snapshot)):
            p.copy_(torch.where(self._of(bad, i), s, p))
        self.rollbacks += bad.long()
        # A divergent step does not enter the history that later steps are judged by.
        if step > 0:
            losses[step] = torch.where(bad, losses[step - 1], current)
        return bad
