"""One image pair, the network run eagerly: fit(model, terms, guide, config) -> FitResult."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .config import FitConfig, FitResult, resolve_device
from .engine import Backend, run_fit, trainable
from .fastpath import fast_network
from .objective import Term, data_objective, terms_on

__all__ = ["Callback", "EagerBackend", "fit"]

#: ``callback(step, x, loss)`` at log steps.
Callback = Callable[[int, Tensor, float], None]


class EagerBackend(Backend):
    """One problem for :func:`run_fit`: its network as the fast path asks, one noise stream.

    Its loss is a 0-d tensor (``batch == ()``) and the guard takes one decision.
    See :func:`fit` for the arguments.
    """

    def __init__(
        self,
        model: nn.Module,
        terms: Sequence[Term],
        guide: Tensor,
        config: FitConfig,
        *,
        z: Tensor | None = None,
        base: Tensor | None = None,
        classic: Tensor | None = None,
        validation: Sequence[Term] | None = None,
        resume: tuple[Tensor, Tensor] | None = None,
        moments: Sequence[dict[str, Tensor]] | None = None,
    ) -> None:
        self.device = device = resolve_device(config.device)
        if not terms:
            raise ValueError("fit needs at least one data term")
        self.validation = [None if validation is None else terms_on(validation, device)]
        self.k, self.batch = 1, ()
        model = model.to(device).train()
        self.network = net = fast_network(model, config)
        self.models, self.configs = [model], [config]
        self.guide = guide = guide.to(device=device, dtype=torch.float32)
        self.terms = [terms_on(terms, device)]
        self.gen = torch.Generator(device=device).manual_seed(config.seed)
        if z is None:
            shape = model.code_shape(*guide.shape[-2:])  # type: ignore[operator]
            z = torch.rand(shape, generator=self.gen, device=device) * 0.1
        self.z = z = z.to(device)
        self.params, _ = trainable([p for p in model.parameters() if p.requires_grad], self.terms)
        self.owners = None
        self.resumed = None if moments is None else list(moments)
        self.base = self.offset = None
        if base is not None:
            base = base.to(device=device, dtype=torch.float32)
            if base.shape[-2:] != guide.shape[-2:] or base.shape[0] != 1:
                raise ValueError(f"base must be (1, C, {guide.shape[-2]}, {guide.shape[-1]}), got {tuple(base.shape)}")
            if resume is not None:
                self.offset, self.scale = (t.detach().to(device=device, dtype=torch.float32) for t in resume)
            else:
                with torch.no_grad():
                    self.offset = net(guide, z).detach()
            if self.offset.shape != base.shape:
                raise ValueError(f"base has {base.shape[1]} bands, the network {self.offset.shape[1]}")
            self.base = classic = base
        elif classic is not None:
            classic = classic.to(device=device, dtype=torch.float32)
            if classic.shape[-2:] != guide.shape[-2:] or classic.shape[0] != 1:
                raise ValueError(
                    f"classic must be (1, C, {guide.shape[-2]}, {guide.shape[-1]}), got {tuple(classic.shape)}"
                )
        self.classics = [classic]

    def draw(self, noise: Tensor) -> None:
        noise.normal_(generator=self.gen)

    def split(self, x: Tensor) -> list[Tensor]:
        return [x]

    def warm_loss(self, x: Tensor, base: Tensor) -> Tensor:
        return (x - base).square().mean()

    def data_loss(self, x: Tensor) -> Tensor:
        return data_objective(x, self.terms[0])

    def backward(self, loss: Tensor) -> None:
        loss.backward()

    def shown(self, x: Tensor, replayed: bool) -> Tensor:
        # A CUDA graph's output is overwritten by its next replay: the callback gets a copy.
        return x.detach().clone() if replayed else x.detach()


def fit(
    model: nn.Module,
    terms: Sequence[Term],
    guide: Tensor,
    config: FitConfig,
    *,
    z: Tensor | None = None,
    callback: Callback | None = None,
    base: Tensor | None = None,
    classic: Tensor | None = None,
    validation: Sequence[Term] | None = None,
    observe: Callable[[str, Tensor], None] | None = None,
    resume: tuple[Tensor, Tensor] | None = None,
    moments: Sequence[dict[str, Tensor]] | None = None,
) -> FitResult:
    """Fit the network's weights to one image pair and return the estimate.

    The loop keeps all its state on the device. The divergence guard (the authors' rule:
    after ``guard_warmup`` steps, a loss more than ``guard_threshold`` above the mean loss of
    20 to 40 steps earlier restores the weights) is evaluated with tensor operations: a
    snapshot of the weights is refreshed every ``guard_every`` steps while the loss is sound,
    and a divergent step is replaced by the snapshot with ``torch.where``, so the host is
    never consulted. The host synchronises only every ``log_every`` steps, to read the loss
    and call ``callback(step, x, loss)``.

    Args:
        model: a ``GuidedDeepDecoder`` (or any module ``model(guide, z)``), already seeded.
        terms: the data terms; their operators' parameters are fitted too.
        guide: (1, C_guide, H, W).
        config: the settings.
        z: the code; by default uniform in [0, 0.1) as in the authors' code, seeded.
        callback: receives (step, estimate, loss) at log steps; it may compute metrics against
            a reference, which the loop itself never sees.
        base: a classic fusion (1, C, H, W) to start from: the estimate is then
            base + G(z, guide) - G_0, with G_0 the network's output at the start (fixed), so the
            fit begins at the classic result and the network learns its correction (or, with
            ``config.warm_start``, the network is first fitted to it).
        classic: a classic fusion to compare with when there is no ``base`` (the base is
            compared otherwise): scored on the data terms in ``FitResult.choice`` and, with
            ``keep_best``, a candidate for the result.
        validation: held-out observations (terms whose pixels the data terms leave out):
            the noise-free estimate is scored on them every ``config.validate_every`` steps,
            the best iterate is kept, ``config.patience`` may end the fit, and with
            ``keep_best`` the result is the candidate of lowest error there.
        observe: ``observe(name, x)`` receives every candidate (``"step N"`` at log steps,
            ``"final"``, ``"classic"``), for measurements in hindsight; it changes nothing.
        resume: an earlier residual fit's ``FitResult.residual`` (G_0 and the scale), with
            its network as ``model``, its code as ``z`` and its ``base``: the fit goes on from
            where that one ended (no warm phase) instead of starting the residual afresh.
        moments: an earlier fit's ``FitResult.moments``, with its network as ``model`` (and
            its operators in ``terms``, its residual as ``resume``): Adam goes on with them
            instead of starting afresh (no warm phase), so the fit continues that one's
            optimisation, as if it had not stopped.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: no data term, or a ``base``/``classic`` of another shape than the estimate.

    Example:
        >>> from gdd.models import GuidedDeepDecoder
        >>> from gdd.operators import Identity
        >>> net = GuidedDeepDecoder(1, 1, width=4, depth=2)
        >>> y = torch.rand(1, 1, 8, 8)
        >>> fit(net, [Term(Identity(), y)], y, FitConfig(iterations=3, device="cpu")).x.shape
        torch.Size([1, 1, 8, 8])
    """
    if resume is not None and (base is None or not config.residual or config.warm_start):
        raise ValueError("resume goes on with a residual fit: give its base, residual=True and no warm start")
    if moments is not None and base is not None and config.warm_start:
        raise ValueError("moments go on with an earlier fit: give no warm start")
    backend = EagerBackend(
        model,
        terms,
        guide,
        config,
        z=z,
        base=base,
        classic=classic,
        validation=validation,
        resume=resume,
        moments=moments,
    )
    log = None if callback is None else lambda step, x, losses: callback(step, x, losses[0])
    seen = None if observe is None else lambda k, name, x: observe(name, x)
    return run_fit(backend, config, log, seen)[0]
