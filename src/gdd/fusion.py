"""The objective and the per-image loop: fit(model, terms, guide, config) -> FitResult.

GDD solves  min_theta  sum_k w_k * loss_k(A_k G_theta(z + n_t, guide), y_k)  with Adam, where
n_t is fresh Gaussian noise on the code at every step. Nothing here reads a ground truth: a
reference is only ever seen by a callback.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal, Protocol

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["FitConfig", "FitResult", "Term", "fit", "gradient_mse", "resolve_device", "seeded"]

LossKind = Literal["mse", "gradient_mse"]
Amp = Literal["off", "bf16"]
CompileMode = Literal["off", "default", "reduce-overhead"]
Callback = Callable[[int, Tensor, float], None]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else MPS, else CPU; anything else is checked.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'mps', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for but MPS is not available")
    return torch.device(device)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator inside the block and restore it afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def gradient_mse(r: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared spatial gradient of a residual, as in the authors' pansharpening loss.

    L(r) = (sum (r[i, j+1] - r[i, j])^2 + sum (r[i+1, j] - r[i, j])^2) / (C H W) per image.
    With a ``mask`` (B, 1, H, W) of valid pixels, only differences between two valid pixels
    count, and H W becomes the number of valid pixels.

    Example:
        >>> float(gradient_mse(torch.ones(1, 1, 4, 4)))
        0.0
    """
    c, h, w = r.shape[-3:]
    if mask is None:
        dh = (r[..., 1:, :] - r[..., :-1, :]).square().sum()
        dw = (r[..., :, 1:] - r[..., :, :-1]).square().sum()
        return (dh + dw) / (r.shape[0] * c * h * w)
    mh = mask[..., 1:, :] * mask[..., :-1, :]
    mw = mask[..., :, 1:] * mask[..., :, :-1]
    dh = ((r[..., 1:, :] - r[..., :-1, :]).square() * mh).sum()
    dw = ((r[..., :, 1:] - r[..., :, :-1]).square() * mw).sum()
    return (dh + dw) / (c * mask.sum())


@dataclass
class Term:
    """One data term w * loss(A x, y) of the objective.

    ``loss="mse"`` is the mean squared error; ``"gradient_mse"`` compares spatial gradients
    only (:func:`gradient_mse` of A x - y). ``mask`` (1, 1, h, w), 1 where the target holds
    data and 0 at nodata pixels, leaves those pixels out of the loss (the mean runs over the
    valid ones only: a missing pixel is never taken as a 0).
    """

    operator: nn.Module
    target: Tensor
    weight: float = 1.0
    loss: LossKind = "mse"
    name: str = ""
    mask: Tensor | None = None

    def __post_init__(self) -> None:
        if self.loss not in ("mse", "gradient_mse"):
            raise ValueError(f"loss must be 'mse' or 'gradient_mse', got {self.loss!r}")
        if self.mask is not None and (self.mask.ndim != 4 or self.mask.shape[1] != 1):
            raise ValueError(f"a mask must be (B, 1, H, W), got shape {tuple(self.mask.shape)}")

    def __call__(self, x: Tensor) -> Tensor:
        r = self.operator(x) - self.target
        if self.loss == "gradient_mse":
            return gradient_mse(r, self.mask)
        if self.mask is None:
            return r.square().mean()
        return (r.square() * self.mask).sum() / (self.mask.sum() * r.shape[1])


@dataclass(frozen=True)
class FitConfig:
    """Settings of one fit (frozen: a run is described by it, and it goes to JSON as is).

    Attributes:
        iterations: Adam steps.
        lr: Adam learning rate (authors: 0.01).
        noise_std: std of the Gaussian noise added to z at every step.
        seed: seeds the network's weights, z, the learnable operators and the noise.
        device: ``"auto"`` (CUDA, else MPS, else CPU), ``"cpu"``, ``"cuda"`` or ``"mps"``.
        log_every: steps between host synchronisations (loss read, callback).
        guard_threshold: the divergence guard fires when the loss exceeds the mean loss of
            20 to 40 steps earlier by more than this (authors: 1e-5 HS, 0.1 PAN, 0.01 flash);
            ``None`` disables it.
        guard_warmup: steps before the guard is armed (authors: 1000).
        guard_every: steps between the guard's on-device snapshots of the weights.
        average_last: if positive, the result is the mean of the estimates of the last
            ``average_last`` steps instead of the final estimate alone.
        keep_best: choose the result by data consistency, with no ground truth: the final (or
            averaged) estimate, the estimate of lowest objective among the log steps (the
            network at the noise-free code), and the classic image when there is one (the
            start, or the one given to compare with), all scored with the final operators; the
            lowest objective wins. A late divergence or over-fit then cannot make the result
            worse on the observations than an earlier iterate or than the classic method.
        warm_start: with a classic start (``fit(..., base=...)``), first fit the network to the
            classic image for this many steps (counted in ``iterations``), then to the data.
        residual: with a classic start, the estimate is base + s (G - G_0), G_0 the network's
            output at the start of the data fit (fixed) and s a learned scale; without, the
            estimate is the network's output (a warm start then makes it begin near the base).
        residual_scale: the initial value of the residual's learned scale s (0: the first
            steps move s, not the image, as in ReZero; 1: the network's updates enter at once).

    The fast path (every switch off by default: each is kept only where a measurement shows
    it pays, ``benchmarks/speed.py``; results stay equal to the plain path within tolerance):

    Attributes:
        channels_last: run the network in the channels-last memory format.
        amp: ``"bf16"`` runs the network under bfloat16 autocast; the operators, losses, the
            guard and the result stay in float32.
        compile: ``torch.compile`` the network's training forward (``"default"``, or
            ``"reduce-overhead"``, which adds CUDA graphs on CUDA); the first step, which
            compiles, is timed apart (``FitResult.compile_seconds``); a failure to compile
            warns and falls back to the eager network.
        fused_adam: Adam's fused implementation (``None``: torch's default choice).
        running_stats: ``False`` drops batch norm's running statistics (the loop uses batch
            statistics only, so the output is the same; it saves their updates and lets
            CUDA graphs capture the step). The fitted model keeps using batch statistics.
        lr_final: if set, the learning rate falls from ``lr`` to ``lr_final`` on a cosine
            over the data-fit steps; ``None`` is the authors' constant rate.
    """

    iterations: int = 1000
    lr: float = 0.01
    noise_std: float = 0.03
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    guard_threshold: float | None = None
    guard_warmup: int = 1000
    guard_every: int = 10
    average_last: int = 0
    keep_best: bool = False
    warm_start: int = 0
    residual: bool = True
    residual_scale: float = 0.0
    channels_last: bool = False
    amp: Amp = "off"
    compile: CompileMode = "off"
    fused_adam: bool | None = None
    running_stats: bool = True
    lr_final: float | None = None

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {self.noise_std}")
        if self.log_every < 1 or self.guard_every < 1:
            raise ValueError("log_every and guard_every must be at least 1")
        if self.average_last < 0:
            raise ValueError(f"average_last must be >= 0, got {self.average_last}")
        if not 0 <= self.warm_start <= self.iterations:
            raise ValueError(f"warm_start must be between 0 and iterations ({self.iterations}), got {self.warm_start}")
        if self.amp not in ("off", "bf16"):
            raise ValueError(f"amp must be 'off' or 'bf16', got {self.amp!r}")
        if self.compile not in ("off", "default", "reduce-overhead"):
            raise ValueError(f"compile must be 'off', 'default' or 'reduce-overhead', got {self.compile!r}")
        if self.lr_final is not None and not self.lr_final > 0:
            raise ValueError(f"lr_final must be positive or None, got {self.lr_final}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class FitResult:
    """What ``fit`` returns.

    Attributes:
        x: the estimate, (1, C, H, W) on the fit's device.
        loss: the loss at every step (numpy, length ``iterations``).
        z: the code (without the per-step noise).
        model: the fitted network.
        operators: the terms' operators (learnable ones fitted).
        seconds: wall time of the loop; ``seconds_per_iteration`` its mean per step (with
            ``compile``, the first step, which compiles, is left out of the mean).
        compile_seconds: with ``compile``, the wall time of the first step (compilation and
            one step); 0 otherwise.
        rollbacks: how many times the divergence guard restored the weights.
        config: the configuration used.
        history: (step, loss) at every log step.
        details: what the caller recorded about the setup (task, preset).
        choice: how the result was chosen and the data objective of each candidate
            (``{"chosen": "final"|"best"|"base", "final": ..., "best": ..., "base": ...,
            "best_step": ...}``) when ``keep_best`` or a ``base`` was used, else empty.
    """

    x: Tensor
    loss: np.ndarray
    z: Tensor
    model: nn.Module
    operators: list[nn.Module]
    seconds: float
    seconds_per_iteration: float
    rollbacks: int
    config: FitConfig
    history: list[tuple[int, float]] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)
    choice: dict[str, object] = field(default_factory=dict)
    compile_seconds: float = 0.0

    def numpy(self) -> np.ndarray:
        """The estimate as an H x W x C float32 array."""
        return self.x[0].permute(1, 2, 0).detach().float().cpu().numpy()


def _adam(params: list[Tensor], config: FitConfig) -> torch.optim.Optimizer:
    """A fresh Adam over ``params`` at the configured rate (fused when asked)."""
    if config.fused_adam is None:
        return torch.optim.Adam(params, lr=config.lr)
    return torch.optim.Adam(params, lr=config.lr, fused=config.fused_adam)


def _objective(x: Tensor, terms: Sequence[Term]) -> Tensor:
    return sum((t.weight * t(x) for t in terms), torch.zeros((), device=x.device, dtype=x.dtype))


def _choose(
    final: Tensor,
    best: tuple[float, int, Tensor] | None,
    classic: Tensor | None,
    terms: Sequence[Term],
    *,
    keep_best: bool,
) -> tuple[Tensor, dict[str, object]]:
    """The result and how it was chosen: the lowest data objective under the final operators."""
    if not keep_best and classic is None:
        return final, {}
    candidates = {"final": final}
    if keep_best and best is not None:
        candidates["best"] = best[2]
    if classic is not None:
        candidates["classic"] = classic
    scores = {k: float(_objective(v, terms)) for k, v in candidates.items()}
    choice: dict[str, object] = {**scores, "chosen": "final"}
    if keep_best and best is not None:
        choice["best_step"] = best[1]
    if keep_best:
        chosen = min(scores, key=lambda k: scores[k])
        choice["chosen"] = chosen
        return candidates[chosen], choice
    return final, choice


class _DivergenceGuard:
    """The authors' divergence guard, on the device.

    After ``guard_warmup`` steps, a loss more than ``guard_threshold`` above the mean loss of 20
    to 40 steps earlier marks a divergent step: its gradient is kept out of Adam's moments and
    the weights are restored from a snapshot refreshed every ``guard_every`` steps while the
    loss is sound. Every decision is a tensor (``torch.where``), so the host is never asked.
    (The authors copied every parameter to the host at every step and restored from 10 steps
    back, still letting Adam step with its stale moments.)
    """

    def __init__(self, params: list[Tensor], config: FitConfig) -> None:
        self.params = params
        self.threshold = float(config.guard_threshold)  # type: ignore[arg-type]
        self.warmup = config.guard_warmup
        self.every = config.guard_every
        self.snapshot = [p.detach().clone() for p in params]
        self.rollbacks = torch.zeros((), device=params[0].device, dtype=torch.int64)

    @torch.no_grad()
    def step(self, step: int, losses: Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Take the optimizer step for ``step`` (loss in ``losses[step]``), guarded."""
        current = losses[step].clone()
        excess = current - losses[step - 40 : step - 20].mean() if step >= 40 else None
        if step % self.every == 0:
            sound = excess <= self.threshold if excess is not None else current.isfinite()
            for p, s in zip(self.params, self.snapshot):
                s.copy_(torch.where(sound, p, s))
        if excess is None or step < self.warmup:
            optimizer.step()
            return
        bad = excess > self.threshold
        grads = [p.grad for p in self.params if p.grad is not None]
        torch._foreach_mul_(grads, (~bad).to(grads[0].dtype))
        optimizer.step()
        for p, s in zip(self.params, self.snapshot):
            p.copy_(torch.where(bad, s, p))
        self.rollbacks += bad.long()
        # A divergent step does not enter the history that later steps are judged by.
        losses[step] = torch.where(bad, losses[step - 1], current)


Network = Callable[[Tensor, Tensor], Tensor]


def _fast_network(model: nn.Module, config: FitConfig) -> Network:
    """The network as the fast-path switches ask (the model itself when they are all off)."""
    if config.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if not config.running_stats:
        from .models import drop_running_stats

        drop_running_stats(model)
    if not config.channels_last and config.amp == "off":
        return model

    def network(guide: Tensor, z: Tensor) -> Tensor:
        if config.channels_last:
            guide, z = (
                guide.contiguous(memory_format=torch.channels_last),
                z.contiguous(memory_format=torch.channels_last),
            )
        # Only the network runs in bfloat16: the operators, losses and guard see float32.
        with torch.autocast(guide.device.type, dtype=torch.bfloat16, enabled=config.amp == "bf16"):
            out = model(guide, z)
        return out.float()

    return network


def _compile(network: Network, config: FitConfig, device: torch.device) -> Network:
    """``torch.compile`` of the network (CUDA graphs only on CUDA); the eager one if it is off."""
    if config.compile == "off":
        return network
    mode = config.compile if device.type == "cuda" else "default"
    return torch.compile(network, mode=mode, dynamic=False)  # type: ignore[return-value]


def _compile_failed(error: Exception) -> None:
    warnings.warn(
        f"torch.compile failed ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
        "running the eager network instead",
        RuntimeWarning,
        stacklevel=3,
    )


class _Network:
    """The network the steps of a fit run: compiled when asked, eager after a failed compile.

    ``__call__`` runs it (marking the step for CUDA graphs); ``first_step(fn, start)`` runs
    step 0 through ``fn(0, z_step)``, and with ``compile`` times it apart (``compile_seconds``) and falls
    back to the eager network if compiling fails.
    """

    def __init__(self, net: Network, config: FitConfig, device: torch.device) -> None:
        self.eager, self.device = net, device
        self.run = _compile(net, config, device)
        self.graphs = config.compile == "reduce-overhead" and device.type == "cuda"
        self.compile_seconds = 0.0

    def __call__(self, guide: Tensor, z: Tensor) -> Tensor:
        if self.graphs:
            torch.compiler.cudagraph_mark_step_begin()
        return self.run(guide, z)

    def first_step(
        self, fn: Callable[[int, Tensor], tuple[Tensor, Tensor]], z_step: Tensor, start: float
    ) -> tuple[Tensor, Tensor]:
        if self.run is self.eager:
            return fn(0, z_step)
        try:
            out = fn(0, z_step)
        except Exception as error:  # any failure of the compiler: the eager network instead
            _compile_failed(error)
            self.run, self.graphs = self.eager, False
            out = fn(0, z_step)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.compile_seconds = time.perf_counter() - start
        return out

    def seconds_per_iteration(self, seconds: float, n: int) -> float:
        """The loop's mean step time, the compiling first step left out."""
        if self.compile_seconds:
            return (seconds - self.compile_seconds) / max(n - 1, 1)
        return seconds / max(n, 1)


class _Guard(Protocol):
    def step(self, step: int, losses: Tensor, optimizer: torch.optim.Optimizer) -> None: ...


def _update(
    step: int,
    loss: Tensor,
    losses: Tensor,
    optimizer: torch.optim.Optimizer,
    guard: _Guard | None,
    config: FitConfig,
    warm: int,
) -> None:
    """One optimiser step after the backward pass: schedule, loss record, guard or plain step."""
    if config.lr_final is not None:
        for group in optimizer.param_groups:
            group["lr"] = _cosine(config, step, warm)
    losses[step] = loss.detach()
    if guard is not None:
        guard.step(step, losses, optimizer)
    else:
        optimizer.step()


def _cosine(config: FitConfig, step: int, start: int) -> float:
    """The learning rate at ``step``: cosine from lr to lr_final over the steps from ``start``."""
    lr_final = config.lr if config.lr_final is None else config.lr_final
    span = max(config.iterations - 1 - start, 1)
    t = min(max(step - start, 0) / span, 1.0)
    return lr_final + 0.5 * (config.lr - lr_final) * (1 + math.cos(math.pi * t))


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

    Returns:
        A :class:`FitResult`.

    Example:
        >>> from gdd.models import GuidedDeepDecoder
        >>> from gdd.operators import Identity
        >>> net = GuidedDeepDecoder(1, 1, width=4, depth=2)
        >>> y = torch.rand(1, 1, 8, 8)
        >>> fit(net, [Term(Identity(), y)], y, FitConfig(iterations=3, device="cpu")).x.shape
        torch.Size([1, 1, 8, 8])
    """
    device = resolve_device(config.device)
    if not terms:
        raise ValueError("fit needs at least one data term")
    model = model.to(device).train()
    net = _fast_network(model, config)
    guide = guide.to(device=device, dtype=torch.float32)
    # New Term objects: the caller's keep their targets where they were.
    terms = [
        replace(
            t,
            operator=t.operator.to(device),
            target=t.target.to(device=device, dtype=torch.float32),
            mask=None if t.mask is None else t.mask.to(device=device, dtype=torch.float32),
        )
        for t in terms
    ]
    gen = torch.Generator(device=device).manual_seed(config.seed)
    if z is None:
        shape = model.code_shape(*guide.shape[-2:])  # type: ignore[operator]
        z = torch.rand(shape, generator=gen, device=device) * 0.1
    z = z.to(device)
    params: list[Tensor] = [p for p in model.parameters() if p.requires_grad]
    seen = {id(p) for p in params}
    for t in terms:
        params += [p for p in t.operator.parameters() if p.requires_grad and id(p) not in seen]
    offset = None
    warm = config.warm_start if base is not None else 0
    if base is not None:
        base = base.to(device=device, dtype=torch.float32)
        if base.shape[-2:] != guide.shape[-2:] or base.shape[0] != 1:
            raise ValueError(f"base must be (1, C, {guide.shape[-2]}, {guide.shape[-1]}), got {tuple(base.shape)}")
        with torch.no_grad():
            offset = net(guide, z).detach()
        if offset.shape != base.shape:
            raise ValueError(f"base has {base.shape[1]} bands, the network {offset.shape[1]}")
        classic = base
    elif classic is not None:
        classic = classic.to(device=device, dtype=torch.float32)
        if classic.shape[-2:] != guide.shape[-2:] or classic.shape[0] != 1:
            raise ValueError(
                f"classic must be (1, C, {guide.shape[-2]}, {guide.shape[-1]}), got {tuple(classic.shape)}"
            )

    # Residual start: the correction enters through a scale that starts at 0 (as in ReZero): the
    # first steps move the scale, not the image, so the classic start is not thrown away by early
    # updates. Warm start: the network itself is first fitted to the classic image; with both,
    # the residual is taken from the warm network (G_0 = its output when the warm phase ends).
    residual = base is not None and config.residual
    scale = torch.full((), config.residual_scale, device=device, requires_grad=True) if residual else None
    active = residual and not warm
    if scale is not None:
        params.append(scale)

    def adam() -> torch.optim.Optimizer:
        return _adam(params, config)

    optimizer = adam()

    def estimate_of(out: Tensor) -> Tensor:
        if not active or base is None or offset is None or scale is None:
            return out
        return base + scale * (out - offset)

    n = config.iterations
    losses = torch.zeros(max(n, 1), device=device)
    guard = _DivergenceGuard(params, config) if config.guard_threshold is not None else None
    noise = torch.empty_like(z)
    x_sum = None
    history: list[tuple[int, float]] = []
    best: tuple[float, int, Tensor] | None = None
    train_net = _Network(net, config, device)

    def forward_backward(step: int, z_step: Tensor) -> tuple[Tensor, Tensor]:
        nonlocal optimizer, offset, active
        if warm and step == warm:
            # The data fit starts with fresh moments: the warm phase's do not describe it. (Set
            # up before this step's forward pass, so that no second graph is ever held.)
            optimizer = adam()
            if residual and base is not None:
                with torch.no_grad():
                    offset = net(guide, z).detach()
                active = True
        x = estimate_of(train_net(guide, z_step))
        loss = (x - base).square().mean() if step < warm and base is not None else _objective(x, terms)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return x, loss

    start = time.perf_counter()
    for step in range(n):
        z_step = z + noise.normal_(generator=gen) * config.noise_std if config.noise_std > 0 else z
        if step == 0:
            x, loss = train_net.first_step(forward_backward, z_step, start)
        else:
            x, loss = forward_backward(step, z_step)
        _update(step, loss, losses, optimizer, guard, config, warm)
        if config.average_last and step >= n - config.average_last:
            x_sum = x.detach().clone() if x_sum is None else x_sum.add_(x.detach())
        if (step + 1) % config.log_every == 0 or step == n - 1:
            value = float(losses[step])
            history.append((step + 1, value))
            if config.keep_best and step >= warm:
                with torch.no_grad():
                    x_clean = estimate_of(net(guide, z))
                    clean = float(_objective(x_clean, terms))
                if best is None or clean < best[0]:
                    best = (clean, step + 1, x_clean.clone())
            if callback is not None:
                # A CUDA graph's output is overwritten by its next replay: the callback gets a copy.
                callback(step + 1, x.detach().clone() if train_net.graphs else x.detach(), value)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start

    with torch.no_grad():
        if x_sum is not None:
            estimate = x_sum / min(config.average_last, n)
        else:
            # Batch norm stays in training mode, as in the authors' code: its batch statistics
            # are part of the model that was fitted.
            estimate = estimate_of(net(guide, z))
        estimate, choice = _choose(estimate, best, classic, terms, keep_best=config.keep_best)
    return FitResult(
        x=estimate,
        loss=losses[:n].cpu().numpy(),
        z=z,
        model=model,
        operators=[t.operator for t in terms],
        seconds=seconds,
        seconds_per_iteration=train_net.seconds_per_iteration(seconds, n),
        rollbacks=int(guard.rollbacks) if guard is not None else 0,
        config=config,
        history=history,
        choice=choice,
        compile_seconds=train_net.compile_seconds,
    )
