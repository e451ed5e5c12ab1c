"""Many images at once: K independent fits of same-shape problems in one loop.

The K networks are stacked (``torch.func.stack_module_state``) and run as one through
``torch.func.vmap`` (convolutions with stacked weights become grouped convolutions), so that
small images, tiles or random restarts fill a GPU. Each problem keeps its own data terms, code,
noise stream, divergence guard and result; one Adam over the stacked weights is K independent
Adams (its update is element-wise), so the run is K separate :func:`gdd.fusion.fit` calls up to
floating-point rounding.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from .fusion import (
    FitConfig,
    FitResult,
    Term,
    _adam,
    _choose,
    _Network,
    _objective,
    _update,
    resolve_device,
)
from .models import drop_running_stats

__all__ = ["fit_many"]

ManyCallback = Callable[[int, Tensor, list[float]], None]


class _StackedGuard:
    """The divergence guard of :mod:`gdd.fusion`, one decision per problem, on the device.

    ``owners[i]`` says whose parameter ``params[i]`` is: ``None`` for a stacked tensor (its first
    dimension is the problem), ``k`` for a parameter of problem k alone (a learnable operator).
    """

    def __init__(self, params: list[Tensor], owners: list[int | None], config: FitConfig, k: int) -> None:
        self.params = params
        self.owners = owners
        self.threshold = float(config.guard_threshold)  # type: ignore[arg-type]
        self.warmup = config.guard_warmup
        self.every = config.guard_every
        self.snapshot = [p.detach().clone() for p in params]
        self.rollbacks = torch.zeros(k, device=params[0].device, dtype=torch.int64)

    def _of(self, flags: Tensor, i: int) -> Tensor:
        owner, p = self.owners[i], self.params[i]
        return flags.view(-1, *[1] * (p.ndim - 1)) if owner is None else flags[owner]

    @torch.no_grad()
    def step(self, step: int, losses: Tensor, optimizer: torch.optim.Optimizer) -> None:
        current = losses[step].clone()
        excess = current - losses[step - 40 : step - 20].mean(dim=0) if step >= 40 else None
        if step % self.every == 0:
            sound = excess <= self.threshold if excess is not None else current.isfinite()
            for i, (p, s) in enumerate(zip(self.params, self.snapshot)):
                s.copy_(torch.where(self._of(sound, i), p, s))
        if excess is None or step < self.warmup:
            optimizer.step()
            return
        bad = excess > self.threshold
        for i, p in enumerate(self.params):
            if p.grad is not None:
                p.grad.mul_((~self._of(bad, i)).to(p.grad.dtype))
        optimizer.step()
        for i, (p, s) in enumerate(zip(self.params, self.snapshot)):
            p.copy_(torch.where(self._of(bad, i), s, p))
        self.rollbacks += bad.long()
        losses[step] = torch.where(bad, losses[step - 1], current)


def _stack(images: Sequence[Tensor] | Tensor, name: str, device: torch.device) -> Tensor:
    """K images (1, C, H, W) of one shape -> (K, 1, C, H, W) float32 on ``device``."""
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) != 1 or len(next(iter(shapes))) != 4 or next(iter(shapes))[0] != 1:
        raise ValueError(f"the {name} must all be (1, C, H, W) of one shape, got {sorted(shapes)}")
    return torch.stack([t.to(device=device, dtype=torch.float32) for t in images])


def fit_many(
    models: Sequence[nn.Module],
    terms: Sequence[Sequence[Term]],
    guides: Sequence[Tensor],
    config: FitConfig,
    *,
    seeds: Sequence[int] | None = None,
    bases: Sequence[Tensor] | None = None,
    classics: Sequence[Tensor | None] | None = None,
    callback: ManyCallback | None = None,
) -> list[FitResult]:
    """Fit K networks to K same-shape problems in one loop; the k-th result is ``fit``'s for problem k.

    Problem k is ``fit(models[k], terms[k], guides[k], replace(config, seed=seeds[k]),
    base=bases[k], classic=classics[k])``, up to floating-point rounding: same code, noise
    stream, guard, warm start, residual, averaging and choice. The networks must have one
    architecture; their batch norms lose their running statistics (``drop_running_stats``:
    the same training-mode output), which ``vmap`` requires. ``channels_last`` is not
    supported here.

    Args:
        models: K networks of one architecture, already seeded; fitted in place.
        terms: K lists of data terms (their operators' parameters are fitted too).
        guides: K guides (1, C_guide, H, W) of one shape.
        config: the settings shared by all fits (``seed`` is replaced by ``seeds``).
        seeds: one seed per problem (default: ``config.seed`` for all: different images;
            random restarts of one image pass different seeds).
        bases: K classic images to start from (see ``fit``), or None.
        classics: K classic images to compare with when there is no base, or None.
        callback: ``callback(step, x, losses)`` at log steps, ``x`` (K, C, H, W), ``losses`` K floats.

    Returns:
        K :class:`gdd.fusion.FitResult`; ``seconds`` is the wall time of the whole loop in each.

    Example:
        >>> from gdd.models import GuidedDeepDecoder
        >>> from gdd.operators import Identity
        >>> ys = [torch.rand(1, 1, 8, 8) for _ in range(2)]
        >>> nets = [GuidedDeepDecoder(1, 1, width=4, depth=2) for _ in ys]
        >>> runs = fit_many(nets, [[Term(Identity(), y)] for y in ys], ys, FitConfig(iterations=3, device="cpu"))
        >>> [tuple(r.x.shape) for r in runs]
        [(1, 1, 8, 8), (1, 1, 8, 8)]
    """
    device = resolve_device(config.device)
    k = len(models)
    if k < 1 or len(terms) != k or len(guides) != k:
        raise ValueError(
            f"fit_many needs as many term lists and guides as models, got {k}, {len(terms)}, {len(guides)}"
        )
    if any(not t for t in terms):
        raise ValueError("every problem needs at least one data term")
    if config.channels_last:
        raise ValueError("fit_many does not support channels_last; set it to False")
    seeds = [config.seed] * k if seeds is None else [int(s) for s in seeds]
    if len(seeds) != k:
        raise ValueError(f"fit_many needs {k} seeds, got {len(seeds)}")
    for m in models:
        drop_running_stats(m.to(device).train())
    try:
        weights, _ = stack_module_state(list(models))  # type: ignore[arg-type]
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"fit_many needs networks of one architecture: {error}") from error
    prototype = copy.deepcopy(models[0]).to("meta")
    guide = _stack(guides, "guides", device)
    terms = [
        [
            replace(
                t,
                operator=t.operator.to(device),
                target=t.target.to(device=device, dtype=torch.float32),
                mask=None if t.mask is None else t.mask.to(device=device, dtype=torch.float32),
            )
            for t in ts
        ]
        for ts in terms
    ]
    gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    shape = models[0].code_shape(*guide.shape[-2:])  # type: ignore[operator]
    z = torch.stack([torch.rand(shape, generator=g, device=device) * 0.1 for g in gens])

    def one(p: dict[str, Tensor], g: Tensor, code: Tensor) -> Tensor:
        return functional_call(prototype, p, (g, code))

    batched = vmap(one)

    def net(g: Tensor, code: Tensor) -> Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp == "bf16"):
            out = batched(weights, g, code)
        return out.float()

    params: list[Tensor] = list(weights.values())
    owners: list[int | None] = [None] * len(params)
    seen = {id(p) for p in params}
    for i, ts in enumerate(terms):
        for t in ts:
            for p in t.operator.parameters():
                if p.requires_grad and id(p) not in seen:
                    params.append(p)
                    owners.append(i)
                    seen.add(id(p))

    base = offset = classic = None
    if bases is not None:
        base = _stack(bases, "bases", device)
        with torch.no_grad():
            offset = net(guide, z).detach()
        if offset.shape != base.shape:
            raise ValueError(f"the bases are {tuple(base.shape[1:])}, the networks' outputs {tuple(offset.shape[1:])}")
    elif classics is not None:
        if len(classics) != k:
            raise ValueError(f"fit_many needs {k} classic images or None, got {len(classics)}")
        classic = [None if c is None else c.to(device=device, dtype=torch.float32) for c in classics]
    warm = config.warm_start if base is not None else 0
    residual = base is not None and config.residual
    scale = torch.full((k,), config.residual_scale, device=device, requires_grad=True) if residual else None
    active = residual and not warm
    if scale is not None:
        params.append(scale)
        owners.append(None)

    def adam() -> torch.optim.Optimizer:
        return _adam(params, config)

    optimizer = adam()

    def estimate_of(out: Tensor) -> Tensor:
        if not active or base is None or offset is None or scale is None:
            return out
        return base + scale.view(k, 1, 1, 1, 1) * (out - offset)

    n = config.iterations
    losses = torch.zeros(max(n, 1), k, device=device)
    guard = _StackedGuard(params, owners, config, k) if config.guard_threshold is not None else None
    noise = torch.empty_like(z)
    x_sum = None
    histories: list[list[tuple[int, float]]] = [[] for _ in range(k)]
    best: list[tuple[float, int, Tensor] | None] = [None] * k
    train_net = _Network(net, config, device)

    def forward_backward(step: int, z_step: Tensor) -> tuple[Tensor, Tensor]:
        nonlocal optimizer, offset, active
        if warm and step == warm:
            # Fresh moments for the data fit, set up before this step's forward pass (as fit()).
            optimizer = adam()
            if residual and base is not None:
                with torch.no_grad():
                    offset = net(guide, z).detach()
                active = True
        x = estimate_of(train_net(guide, z_step))
        if step < warm and base is not None:
            per = (x - base).square().mean(dim=(1, 2, 3, 4))
        else:
            per = torch.stack([_objective(x[i], ts) for i, ts in enumerate(terms)])
        optimizer.zero_grad(set_to_none=True)
        # The problems share no weight: the gradient of the sum is each problem's own gradient.
        per.sum().backward()
        return x, per

    start = time.perf_counter()
    for step in range(n):
        if config.noise_std > 0:
            for i, g in enumerate(gens):
                noise[i].normal_(generator=g)
            z_step = z + noise * config.noise_std
        else:
            z_step = z
        if step == 0:
            x, per = train_net.first_step(forward_backward, z_step, start)
        else:
            x, per = forward_backward(step, z_step)
        _update(step, per, losses, optimizer, guard, config, warm)
        if config.average_last and step >= n - config.average_last:
            x_sum = x.detach().clone() if x_sum is None else x_sum.add_(x.detach())
        if (step + 1) % config.log_every == 0 or step == n - 1:
            values = losses[step].tolist()
            for i in range(k):
                histories[i].append((step + 1, values[i]))
            if config.keep_best and step >= warm:
                with torch.no_grad():
                    x_clean = estimate_of(net(guide, z))
                    for i, ts in enumerate(terms):
                        clean = float(_objective(x_clean[i], ts))
                        if best[i] is None or clean < best[i][0]:  # type: ignore[index]
                            best[i] = (clean, step + 1, x_clean[i].clone())
            if callback is not None:
                callback(step + 1, x.detach()[:, 0].clone(), values)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start

    with torch.no_grad():
        estimate = x_sum / min(config.average_last, n) if x_sum is not None else estimate_of(net(guide, z))
        for m_index, m in enumerate(models):
            for name, w in weights.items():
                m.get_parameter(name).copy_(w[m_index])
        loss_host = losses[:n].cpu().numpy()
        rollbacks = guard.rollbacks.tolist() if guard is not None else [0] * k
        results = []
        for i in range(k):
            start_i = None if base is None else base[i]
            classic_i = start_i if start_i is not None else (None if classic is None else classic[i])
            x_i, choice = _choose(estimate[i], best[i], classic_i, terms[i], keep_best=config.keep_best)
            results.append(
                FitResult(
                    x=x_i,
                    loss=np.ascontiguousarray(loss_host[:, i]),
                    z=z[i],
                    model=models[i],
                    operators=[t.operator for t in terms[i]],
                    seconds=seconds,
                    seconds_per_iteration=train_net.seconds_per_iteration(seconds, n),
                    rollbacks=int(rollbacks[i]),
                    config=replace(config, seed=seeds[i]),
                    history=histories[i],
                    compile_seconds=train_net.compile_seconds,
                    choice=choice,
                )
            )
    return results
