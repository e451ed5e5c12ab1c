"""The fitting loop, one for both backends: one problem run eagerly, or K stacked problems.

GDD solves  min_theta  sum_k w_k * loss_k(A_k G_theta(z + n_t, guide), y_k)  with Adam, where
n_t is fresh Gaussian noise on the code at every step. A :class:`Backend` sets up K same-shape
problems (networks, codes, data terms, noise streams, an optional classic start) and says how
their losses are formed; :func:`run_fit` is the loop they share: the warm start, the residual
with its learned scale, the divergence guard, the averaging of the last estimates, the
held-out validation (scoring, early stopping and the choice of the result), the log steps and
the callback. Nothing here reads a ground truth.
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .config import PLATEAU_RTOL, FitConfig, FitResult
from .fastpath import NetworkFn, TrainNetwork
from .guard import DivergenceGuard
from .objective import Term, data_objective, pixel_errors, runner_up
from .state import Moments, adam, restore_moments, snapshot, trainable

__all__ = ["Backend", "LogCallback", "Observer", "adam", "cosine_lr", "run_fit", "trainable"]

#: ``callback(step, x, losses)`` at log steps: the estimate as the backend shows it, K losses.
LogCallback = Callable[[int, Tensor, list[float]], None]

#: ``observe(k, name, x)``: every candidate the fit of problem k considers (``"step N"`` at log
#: steps, ``"final"``, ``"classic"``), for measurements in hindsight (a benchmark's oracle); it
#: must not change anything.
Observer = Callable[[int, str, Tensor], None]


class Backend(abc.ABC):
    """K same-shape problems as the loop sees them; a backend sets them up in its constructor.

    Attributes:
        device: where the fit runs.
        k: the number of problems.
        batch: the shape of one step's loss, of the residual's scale and of the guard's
            decisions: ``()`` for one problem run eagerly, ``(K,)`` for K stacked ones.
        guide: the guide(s) as ``network`` takes them.
        z: the code(s) as ``network`` takes them (without the per-step noise).
        terms: the data terms of each problem, on the device.
        params: the parameters Adam fits (the networks', then the learnable operators').
        owners: whose each parameter is, for the guard (see :class:`DivergenceGuard`), or
            None for one problem.
        network: the network(s) ``network(guide, z) -> x``, the fast path applied.
        base: the classic start(s), shaped as the network's output, or None.
        offset: the network's output at the start when there is a base, else None.
        scale: the residual's scale to go on from (a resumed fit), else None (it starts at
            ``config.residual_scale``).
        resumed: Adam's state to go on from (an earlier fit's ``FitResult.moments``), else
            None (a fresh Adam).
        classics: per problem, the classic image the result is compared with (the base, or
            the one given to compare with), or None.
        validation: per problem, the validation terms (held-out observations) or None.
        models: the network of each problem, as its result returns it.
        configs: the configuration of each problem, as its result records it.
    """

    device: torch.device
    k: int
    batch: tuple[int, ...]
    guide: Tensor
    z: Tensor
    terms: list[list[Term]]
    params: list[Tensor]
    owners: list[int | None] | None
    network: NetworkFn
    base: Tensor | None
    offset: Tensor | None
    scale: Tensor | None = None
    resumed: Moments | None = None
    classics: list[Tensor | None]
    validation: list[list[Term] | None]
    models: list[nn.Module]
    configs: list[FitConfig]

    @abc.abstractmethod
    def draw(self, noise: Tensor) -> None:
        """Fill ``noise`` (shaped as ``z``) with standard normal draws from each problem's stream."""

    @abc.abstractmethod
    def split(self, x: Tensor) -> list[Tensor]:
        """An output (or code) of ``network`` as the K problems' own, (1, C, H, W) each."""

    @abc.abstractmethod
    def warm_loss(self, x: Tensor, base: Tensor) -> Tensor:
        """The warm phase's loss, shaped ``batch``: the mean squared distance to the base."""

    @abc.abstractmethod
    def data_loss(self, x: Tensor) -> Tensor:
        """The data objective of each problem, shaped ``batch``."""

    @abc.abstractmethod
    def backward(self, loss: Tensor) -> None:
        """Backpropagate ``loss`` (shaped ``batch``) to every problem's own parameters."""

    @abc.abstractmethod
    def shown(self, x: Tensor, replayed: bool) -> Tensor:
        """The estimate ``x`` as the callback gets it (``replayed``: a CUDA graph's output)."""

    def finish(self) -> None:  # noqa: B027 (a hook: most backends have nothing to finish)
        """After the loop: hand the fitted weights back to ``models`` where they were copied."""

    def own_weights(self, params: Sequence[Tensor], i: int) -> list[Tensor]:
        """Problem i's own parameters among the loop's ``params``, in its own fit's order."""
        return list(params)

    def moments(self, optimizer: torch.optim.Optimizer, params: Sequence[Tensor], i: int) -> Moments:
        """Problem i's Adam state, one entry per parameter of its own fit (see ``FitResult.moments``)."""
        return [dict(optimizer.state.get(p, {})) for p in params]


def cosine_lr(config: FitConfig, step: int, start: int) -> float:
    """The learning rate at ``step``: cosine from lr to lr_final over the steps from ``start``.

    Example:
        >>> cosine_lr(FitConfig(iterations=11, lr=0.01, lr_final=0.001), 10, 0)
        0.001
    """
    lr_final = config.lr if config.lr_final is None else config.lr_final
    span = max(config.iterations - 1 - start, 1)
    t = min(max(step - start, 0) / span, 1.0)
    return lr_final + 0.5 * (config.lr - lr_final) * (1 + math.cos(math.pi * t))


def _across(flags: Tensor, x: Tensor) -> Tensor:
    """Per-problem values (0-d, or (K,)) shaped to broadcast over estimates (C, H, W or K, 1, C, H, W)."""
    return flags if flags.ndim == 0 else flags.view(-1, *[1] * (x.ndim - 1))


def _update(
    step: int,
    loss: Tensor,
    losses: Tensor,
    optimizer: torch.optim.Optimizer,
    guard: DivergenceGuard | None,
    config: FitConfig,
    warm: int,
) -> Tensor | None:
    """One optimiser step after the backward pass: schedule, loss record, guard or plain step.

    Returns the guard's divergent flags of the step (None without a guard).
    """
    if config.lr_final is not None:
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(config, step, warm)
    losses[step] = loss.detach()
    if guard is not None:
        return guard.step(step, losses, optimizer)
    optimizer.step()
    return None


Best = tuple[float, int, Tensor]


def _choose(
    final: Tensor,
    best: Best | None,
    classic: Tensor | None,
    terms: Sequence[Term],
    validation: Sequence[Term] | None,
    *,
    keep_best: bool,
) -> tuple[Tensor, dict[str, object]]:
    """The result and how it was chosen: the lowest held-out error, else the lowest data objective."""
    if not keep_best and classic is None and validation is None:
        return final, {}
    candidates = {"final": final}
    if keep_best and best is not None:
        candidates["best"] = best[2]
    if classic is not None:
        candidates["classic"] = classic
    scoring = terms if validation is None else validation
    scores = {k: float(data_objective(v, scoring)) for k, v in candidates.items()}
    choice: dict[str, object] = {**scores, "rule": "residual" if validation is None else "holdout", "chosen": "final"}
    if keep_best and best is not None:
        choice["best_step"] = best[1]
    if keep_best:
        # Ties go to the earlier candidate: the network's final estimate before an iterate or the classic.
        chosen = min(scores, key=lambda k: scores[k])
        choice["chosen"] = chosen
        if validation is not None:
            errors = {k: pixel_errors(v, validation) for k, v in candidates.items()}
            choice.update(runner_up(chosen, scores, errors))
        return candidates[chosen], choice
    return final, choice


def _residual(offset: Tensor, scale: Tensor, backend: Backend, i: int) -> tuple[Tensor, Tensor]:
    """Problem i's G_0 and learned scale, detached (see ``FitResult.residual``)."""
    scales = scale.detach().reshape(-1)
    return backend.split(offset.detach())[i], scales[i if scales.numel() > 1 else 0].clone()


def run_fit(
    backend: Backend, config: FitConfig, callback: LogCallback | None = None, observe: Observer | None = None
) -> list[FitResult]:
    """Fit the backend's K problems in one loop and return one result per problem.

    The loop keeps all its state on the device. The divergence guard is evaluated with tensor
    operations (:class:`DivergenceGuard`), so the host is never consulted; it synchronises only
    every ``config.log_every`` steps, to read the losses, score the noise-free estimate for
    ``keep_best`` and call ``callback(step, backend.shown(x), losses)``, and every
    ``config.validate_every`` steps when there are validation terms, to score the noise-free
    estimate on them (the best so far is kept on the device; ``config.patience`` scorings
    without improvement end the fit).

    Args:
        backend: the problems, set up.
        config: the settings (shared by the K problems but for their seeds).
        callback: receives (step, estimate, K losses) at log steps.
        observe: receives every candidate of every problem (see :data:`Observer`).

    Returns:
        K :class:`FitResult`; ``seconds`` is the wall time of the whole loop in each.
    """
    device, k, net, guide, z, base = backend.device, backend.k, backend.network, backend.guide, backend.z, backend.base
    offset = backend.offset
    params = list(backend.params)
    owners = None if backend.owners is None else list(backend.owners)
    # Residual start: the correction enters through a scale that starts at 0 (as in ReZero): the
    # first steps move the scale, not the image, so the classic start is not thrown away by early
    # updates. Warm start: the network itself is first fitted to the classic image; with both,
    # the residual is taken from the warm network (G_0 = its output when the warm phase ends).
    warm = config.warm_start if base is not None else 0
    residual = base is not None and config.residual
    scale = None
    if residual:
        resumed = backend.scale
        scale = (
            torch.full(backend.batch, config.residual_scale, device=device)
            if resumed is None
            else resumed.clone().reshape(backend.batch)
        ).requires_grad_(True)
    active = residual and not warm
    if scale is not None:
        params.append(scale)
        if owners is not None:
            owners.append(None)
    optimizer = adam(params, config)
    if backend.resumed is not None:
        restore_moments(optimizer, params, backend.resumed)

    def estimate_of(out: Tensor) -> Tensor:
        if not active or base is None or offset is None or scale is None:
            return out
        # One problem: a 0-d scale; K stacked: one scale per problem, along the first dimension.
        s = scale if scale.ndim == 0 else scale.view(-1, *[1] * (out.ndim - 1))
        return base + s * (out - offset)

    n = config.iterations
    losses = torch.zeros(max(n, 1), *backend.batch, device=device)
    guard = DivergenceGuard(params, owners, config, k) if config.guard_threshold is not None else None
    noise = torch.empty_like(z)
    x_sum: Tensor | None = None
    summed = 0  # the steps averaged
    counted: Tensor | None = None  # with a guard: the sound ones among them, per problem
    # One past the last step: ``iterations``, or sooner once ``config.until`` is reached or the
    # data objective has stopped falling (``config.plateau``); the fit then still ends with the
    # mean of its last ``average_last`` estimates.
    end = n

    def ending(step: int) -> int:
        """The end once a stop is reached at ``step``: after the averaging window, within the cap."""
        return min(n, step + 1 + config.average_last)

    histories: list[list[tuple[int, float]]] = [[] for _ in range(k)]
    scored: list[list[tuple[int, float]]] = [[] for _ in range(k)]
    best: list[Best | None] = [None] * k
    kept: list[tuple[list[Tensor], Moments] | None] = [None] * k  # each problem's state at its best scoring
    validation = backend.validation
    validating = any(v is not None for v in validation)
    stale = 0  # scorings in a row that improved no problem's best validation error
    lowest = [float("inf")] * k  # with ``plateau``: each problem's lowest data objective
    flat = 0  # scorings in a row that lowered no problem's objective by PLATEAU_RTOL
    train_net = TrainNetwork(net, config, device)

    def forward_backward(step: int, z_step: Tensor) -> tuple[Tensor, Tensor]:
        nonlocal optimizer, offset, active
        if warm and step == warm:
            # The data fit starts with fresh moments: the warm phase's do not describe it. (Set
            # up before this step's forward pass, so that no second graph is ever held.)
            optimizer = adam(params, config)
            if residual and base is not None:
                with torch.no_grad():
                    offset = net(guide, z).detach()
                active = True
        x = estimate_of(train_net(guide, z_step))
        loss = backend.warm_loss(x, base) if step < warm and base is not None else backend.data_loss(x)
        optimizer.zero_grad(set_to_none=True)
        backend.backward(loss)
        return x, loss

    start = time.perf_counter()
    steps = n
    for step in range(n):
        if config.noise_std > 0:
            backend.draw(noise)
            z_step = z + noise * config.noise_std
        else:
            z_step = z
        if step == 0:
            x, loss = train_net.first_step(forward_backward, z_step, start)
        else:
            x, loss = forward_backward(step, z_step)
        bad = _update(step, loss, losses, optimizer, guard, config, warm)
        if config.average_last and step >= end - config.average_last:
            # A step the guard found divergent (its estimate may be NaN) is left out of the mean.
            kept_x = x.detach() if bad is None else torch.where(_across(~bad, x), x.detach(), 0)
            x_sum = kept_x.clone() if x_sum is None else x_sum.add_(kept_x)
            summed += 1
            if bad is not None:
                counted = (~bad).long() if counted is None else counted + (~bad).long()
        last = step == end - 1
        logging = (step + 1) % config.log_every == 0 or last
        scoring = step >= warm and ((step + 1) % config.validate_every == 0 or last)
        checking = validating and scoring
        keeping = config.keep_best and not validating and logging and step >= warm
        reaching = config.plateau > 0 and scoring and end == n
        if checking or keeping or reaching or (observe is not None and logging):
            with torch.no_grad():
                cleans = backend.split(estimate_of(net(guide, z)))
                if checking:
                    improved = False
                    for i, (x_i, v) in enumerate(zip(cleans, validation)):
                        if v is None:
                            continue
                        score = float(data_objective(x_i, v))
                        scored[i].append((step + 1, score))
                        if (b := best[i]) is None or score < b[0]:
                            best[i], improved = (score, step + 1, x_i.clone()), True
                            if config.keep_best:  # to go on from this step if it is chosen
                                own = backend.own_weights(params, i)
                                kept[i] = snapshot(own, backend.moments(optimizer, params, i))
                    stale = 0 if improved else stale + 1
                    if config.until is not None and end == n:
                        # Every problem's validation error at most the target (see FitConfig.until).
                        latest = [s[-1][1] for s, v in zip(scored, validation) if v is not None and s]
                        if latest and max(latest) <= config.until:
                            end = ending(step)
                if keeping:
                    for i, (x_i, ts) in enumerate(zip(cleans, backend.terms)):
                        clean = float(data_objective(x_i, ts))
                        if (b := best[i]) is None or clean < b[0]:
                            best[i] = (clean, step + 1, x_i.clone())
                if reaching:
                    # No problem's noise-free estimate has fitted its data better for ``plateau`` scorings.
                    objectives = [float(data_objective(x_i, ts)) for x_i, ts in zip(cleans, backend.terms)]
                    lower = [o < (1 - PLATEAU_RTOL) * b for o, b in zip(objectives, lowest)]
                    lowest = [min(o, b) for o, b in zip(objectives, lowest)]
                    flat = 0 if any(lower) else flat + 1
                    if flat >= config.plateau:
                        end = ending(step)
                if observe is not None and logging:
                    for i, x_i in enumerate(cleans):
                        observe(i, f"step {step + 1}", x_i)
        if logging:
            values = losses[step].reshape(-1).tolist()
            for history, value in zip(histories, values):
                history.append((step + 1, value))
            if callback is not None:
                callback(step + 1, backend.shown(x, train_net.graphs), values)
        if (checking and config.patience and stale >= config.patience and not last) or step + 1 >= end:
            steps = step + 1
            break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start

    with torch.no_grad():
        every_one = counted is None or bool((counted == summed).all())
        if x_sum is not None and steps == end and every_one:
            estimate = x_sum / summed
        elif x_sum is not None and steps == end and counted is not None and bool((counted > 0).all()):
            estimate = x_sum / _across(counted.to(x_sum.dtype), x_sum)
        else:
            # Batch norm stays in training mode, as in the authors' code: its batch statistics
            # are part of the model that was fitted.
            estimate = estimate_of(net(guide, z))
        backend.finish()
        loss_host = losses[:steps].cpu().numpy()
        rollbacks = guard.rollbacks.tolist() if guard is not None else [0] * k
        results = []
        for i, (x_i, z_i) in enumerate(zip(backend.split(estimate), backend.split(z))):
            classic = backend.classics[i]
            if observe is not None:
                observe(i, "final", x_i)
                if classic is not None:
                    observe(i, "classic", classic)
            if not config.classic_candidate:
                classic = None
            x_i, choice = _choose(x_i, best[i], classic, backend.terms[i], validation[i], keep_best=config.keep_best)
            results.append(
                FitResult(
                    x=x_i,
                    loss=loss_host if loss_host.ndim == 1 else np.ascontiguousarray(loss_host[:, i]),
                    z=z_i,
                    model=backend.models[i],
                    operators=[t.operator for t in backend.terms[i]],
                    seconds=seconds,
                    seconds_per_iteration=train_net.seconds_per_iteration(seconds, steps),
                    rollbacks=int(rollbacks[i]),
                    config=backend.configs[i],
                    history=histories[i],
                    choice=choice,
                    compile_seconds=train_net.compile_seconds,
                    steps=steps,
                    validation=scored[i],
                    residual=None
                    if not active or offset is None or scale is None
                    else _residual(offset, scale, backend, i),
                    # A fit that ended in its warm phase hands on no moments: they are the warm fit's.
                    moments=backend.moments(optimizer, params, i) if steps > warm else None,
                    best_state=kept[i] if choice.get("chosen") == "best" else None,
                )
            )
    return results
