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
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from ..models import drop_running_stats
from .config import FitConfig, FitResult, resolve_device
from .engine import Backend, Observer, run_fit, trainable
from .objective import Term, data_objective, terms_on
from .state import Moments

__all__ = ["ManyCallback", "VmapBackend", "fit_many"]

#: ``callback(step, x, losses)`` at log steps, ``x`` (K, C, H, W), ``losses`` K floats.
ManyCallback = Callable[[int, Tensor, list[float]], None]


def _stack(images: Sequence[Tensor] | Tensor, name: str, device: torch.device) -> Tensor:
    """K images (1, C, H, W) of one shape -> (K, 1, C, H, W) float32 on ``device``."""
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) != 1 or len(next(iter(shapes))) != 4 or next(iter(shapes))[0] != 1:
        raise ValueError(f"the {name} must all be (1, C, H, W) of one shape, got {sorted(shapes)}")
    return torch.stack([t.to(device=device, dtype=torch.float32) for t in images])


class VmapBackend(Backend):
    """K same-shape problems for :func:`run_fit`: K networks stacked under ``vmap``, K noise streams.

    Every tensor of the loop has the problem first: the guides, codes and outputs are
    (K, 1, C, H, W), a step's losses (K,) (``batch == (K,)``), and the guard takes K decisions.
    See :func:`fit_many` for the arguments.
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        terms: Sequence[Sequence[Term]],
        guides: Sequence[Tensor],
        config: FitConfig,
        *,
        seeds: Sequence[int] | None = None,
        bases: Sequence[Tensor] | None = None,
        classics: Sequence[Tensor | None] | None = None,
        validations: Sequence[Sequence[Term] | None] | None = None,
    ) -> None:
        self.device = device = resolve_device(config.device)
        self.k = k = len(models)
        if validations is not None and len(validations) != k:
            raise ValueError(f"fit_many needs {k} validation term lists or None, got {len(validations)}")
        self.validation = [None if v is None else terms_on(v, device) for v in (validations or [None] * k)]
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
        self.batch = (k,)
        self.models = list(models)
        self.configs = [replace(config, seed=s) for s in seeds]
        for m in models:
            drop_running_stats(m.to(device).train())
        try:
            self.weights, _ = stack_module_state(self.models)  # type: ignore[arg-type]
        except (RuntimeError, ValueError) as error:
            raise ValueError(f"fit_many needs networks of one architecture: {error}") from error
        prototype = copy.deepcopy(models[0]).to("meta")
        self.guide = guide = _stack(guides, "guides", device)
        self.terms = [terms_on(ts, device) for ts in terms]
        self.gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        shape = models[0].code_shape(*guide.shape[-2:])  # type: ignore[operator]
        self.z = z = torch.stack([torch.rand(shape, generator=g, device=device) * 0.1 for g in self.gens])

        def one(p: dict[str, Tensor], g: Tensor, code: Tensor) -> Tensor:
            return functional_call(prototype, p, (g, code))

        batched = vmap(one)

        def net(g: Tensor, code: Tensor) -> Tensor:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp == "bf16"):
                out = batched(self.weights, g, code)
            return out.float()

        self.network = net
        self.params, self.owners = trainable(list(self.weights.values()), self.terms)
        self.base = self.offset = None
        self.classics = [None] * k
        if bases is not None:
            self.base = base = _stack(bases, "bases", device)
            with torch.no_grad():
                self.offset = net(guide, z).detach()
            if self.offset.shape != base.shape:
                raise ValueError(
                    f"the bases are {tuple(base.shape[1:])}, the networks' outputs {tuple(self.offset.shape[1:])}"
                )
            self.classics = list(self.split(base))
        elif classics is not None:
            if len(classics) != k:
                raise ValueError(f"fit_many needs {k} classic images or None, got {len(classics)}")
            self.classics = [None if c is None else c.to(device=device, dtype=torch.float32) for c in classics]

    def draw(self, noise: Tensor) -> None:
        for i, g in enumerate(self.gens):
            noise[i].normal_(generator=g)

    def split(self, x: Tensor) -> list[Tensor]:
        return [x[i] for i in range(self.k)]

    def warm_loss(self, x: Tensor, base: Tensor) -> Tensor:
        return (x - base).square().mean(dim=(1, 2, 3, 4))

    def data_loss(self, x: Tensor) -> Tensor:
        return torch.stack([data_objective(x_i, ts) for x_i, ts in zip(self.split(x), self.terms)])

    def backward(self, loss: Tensor) -> None:
        # The problems share no weight: the gradient of the sum is each problem's own gradient.
        loss.sum().backward()

    def shown(self, x: Tensor, replayed: bool) -> Tensor:
        return x.detach()[:, 0].clone()

    def finish(self) -> None:
        with torch.no_grad():
            for index, model in enumerate(self.models):
                for name, w in self.weights.items():
                    model.get_parameter(name).copy_(w[index])

    def _own(self, params: Sequence[Tensor], i: int) -> list[tuple[Tensor, bool]]:
        """Problem i's parameters among ``params``: each with whether it is stacked (problem i at index i).

        Stacked weights and the residual's scales hold every problem; an operator's parameters
        are one problem's own.
        """
        assert self.owners is not None
        owners = [*self.owners, *[None] * (len(params) - len(self.owners))]
        return [(p, owner is None) for p, owner in zip(params, owners) if owner is None or owner == i]

    def own_weights(self, params: Sequence[Tensor], i: int) -> list[Tensor]:
        return [p[i] if stacked else p for p, stacked in self._own(params, i)]

    def moments(self, optimizer: torch.optim.Optimizer, params: Sequence[Tensor], i: int) -> Moments:
        out: Moments = []
        for p, stacked in self._own(params, i):
            state = optimizer.state.get(p, {})
            out.append({k: v[i] if stacked and k != "step" else v for k, v in state.items()})
        return out


def fit_many(
    models: Sequence[nn.Module],
    terms: Sequence[Sequence[Term]],
    guides: Sequence[Tensor],
    config: FitConfig,
    *,
    seeds: Sequence[int] | None = None,
    bases: Sequence[Tensor] | None = None,
    classics: Sequence[Tensor | None] | None = None,
    validations: Sequence[Sequence[Term] | None] | None = None,
    callback: ManyCallback | None = None,
    observe: Observer | None = None,
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
        validations: K lists of validation terms (see ``fit``), or None; early stopping
            (``config.patience``) ends the loop when no problem improved for that many scorings.
        callback: ``callback(step, x, losses)`` at log steps, ``x`` (K, C, H, W), ``losses`` K floats.
        observe: ``observe(k, name, x)``: every candidate of problem k (see ``fit``).

    Returns:
        K :class:`gdd.fusion.FitResult`; ``seconds`` is the wall time of the whole loop in each.

    Raises:
        ValueError: the lists differ in length, a problem has no data term, the networks differ
            in architecture, the images in shape, or ``channels_last`` is on.

    Example:
        >>> from gdd.models import GuidedDeepDecoder
        >>> from gdd.operators import Identity
        >>> ys = [torch.rand(1, 1, 8, 8) for _ in range(2)]
        >>> nets = [GuidedDeepDecoder(1, 1, width=4, depth=2) for _ in ys]
        >>> runs = fit_many(nets, [[Term(Identity(), y)] for y in ys], ys, FitConfig(iterations=3, device="cpu"))
        >>> [tuple(r.x.shape) for r in runs]
        [(1, 1, 8, 8), (1, 1, 8, 8)]
    """
    backend = VmapBackend(
        models, terms, guides, config, seeds=seeds, bases=bases, classics=classics, validations=validations
    )
    return run_fit(backend, config, callback, observe)
