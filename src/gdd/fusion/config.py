"""The settings and the result of a fit, and where it runs: FitConfig, FitResult, resolve_device, seeded."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["PLATEAU_RTOL", "Amp", "CompileMode", "FitConfig", "FitResult", "deterministic", "resolve_device", "seeded"]

Amp = Literal["off", "bf16"]
CompileMode = Literal["off", "default", "reduce-overhead"]

#: ``FitConfig.plateau``: a scoring lowers the data objective only when it takes at least this
#: share off its lowest value so far (a change of 0.004 dB in the data fit); smaller changes are
#: the noise of the per-step code perturbation.
PLATEAU_RTOL = 1e-3


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
    """Seed torch's global CPU generator inside the block and restore it afterwards.

    Only the CPU generator is touched (``torch.manual_seed`` would reseed every CUDA device's
    too, and leave them reseeded): the networks are made on the CPU, and the fit draws its code
    and noise from a generator of its own.

    Example:
        >>> before = torch.random.get_rng_state()
        >>> with seeded(3):
        ...     a = torch.rand(2)
        >>> bool((torch.random.get_rng_state() == before).all())
        True
    """
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield


@contextlib.contextmanager
def deterministic(on: bool = True) -> Iterator[None]:
    """Deterministic kernels inside the block, so that a seeded rerun on a GPU gives the same result.

    Sets ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an operation without a
    deterministic kernel warns and runs anyway), cuDNN's deterministic mode without its
    benchmark, and cuBLAS's workspace (``CUBLAS_WORKSPACE_CONFIG=:4096:8``, read when cuBLAS
    starts: set before the first CUDA work). Everything is restored afterwards. On a CPU a
    seeded rerun with the same thread count is already reproducible. ``on=False`` does nothing.
    """
    if not on:
        yield
        return
    import os

    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2], before[3]
        if before[4] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


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
        keep_best: choose the result among candidates, with no ground truth: the final (or
            averaged) estimate, the best iterate among the checked steps (the network at the
            noise-free code), and the classic image when there is one (the start, or the one
            given to compare with). With validation terms (``fit(..., validation=...)``: the
            observations' held-out pixels, left out of the loss) every candidate is scored by
            its error there and the lowest wins; without them, by the data objective itself
            (the lowest residual on the fitted pixels, which rewards fitting the noise).
        classic_candidate: with ``keep_best``, the classic image is one of the candidates
            (False: only the network's estimates, for a caller that compares several fits with
            the classic image itself).
        validate_every: steps between two scorings of the noise-free estimate on the
            validation terms (and, without them, between two keep-best checks: ``log_every``).
        patience: with validation terms, stop when this many scorings in a row have not
            improved the best validation error (0: run every step); ``iterations`` stays a cap.
        plateau: stop when this many scorings in a row (every ``validate_every`` steps, after
            the warm start) have not lowered the noise-free estimate's data objective by
            :data:`PLATEAU_RTOL` of its lowest value so far (0: never), then for the
            ``average_last`` window; ``iterations`` stays a cap.
        until: with validation terms, stop at the first scoring at which every problem's
            validation error is at most this (None: never); ``iterations`` stays a cap. For
            going on with every pixel after a held-out fit, the validation pixels back in the
            data terms: until they are fitted as well as the others were (Goodfellow, Bengio
            and Courville, *Deep Learning*, 2016, section 7.8, algorithm 7.3).
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
    classic_candidate: bool = True
    validate_every: int = 25
    patience: int = 0
    plateau: int = 0
    until: float | None = None
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
        if self.log_every < 1 or self.guard_every < 1 or self.validate_every < 1:
            raise ValueError("log_every, guard_every and validate_every must be at least 1")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience}")
        if self.plateau < 0:
            raise ValueError(f"plateau must be >= 0, got {self.plateau}")
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
        loss: the loss at every step run (numpy, length ``steps``).
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
        choice: how the result was chosen and the score of each candidate
            (``{"rule": "holdout"|"residual", "chosen": ..., "final": ..., "best": ...,
            "classic": ..., "best_step": ...}``) when ``keep_best``, validation terms or a
            ``base`` were used, else empty. ``"chosen"`` is ``"final"`` (the last estimate, or
            the mean of the last ``average_last``), ``"best"`` (the scored step ``best_step``)
            or ``"classic"`` (the classic start itself); where ``solve`` fitted several starts
            (the HS presets), ``"start k"`` (the k-th start's fit) or ``"mean"`` (their mean),
            each start's own choice under ``"starts"``. ``"held_out"`` is the chosen
            candidate's held-out error; after ``refit``, ``"refit_steps"`` the steps it went on
            with every pixel (``steps`` counts the fit's own).
        steps: the steps actually run (fewer than ``config.iterations`` when ``patience``
            stopped the fit).
        validation: (step, held-out error) at every scoring, when there were validation terms.
        residual: with a residual start, the fixed network output G_0 and the learned scale s
            when the fit ended (``fit(..., resume=result.residual)`` goes on from there); else None.
        moments: Adam's state of each fitted parameter when the fit ended (its step count and
            the running means of the gradient and of its square), in the order the fit passes
            them to Adam: the network's, the learnable operators', then the residual's scale.
            ``fit(..., moments=result.moments)`` goes on with them instead of a fresh Adam.
        best_state: when the best scored iterate was chosen (``choice["chosen"] == "best"``),
            the fitted parameters and Adam's state at that step, in the order of ``moments``
            (:func:`gdd.fusion.state.at_best` goes on from there); else None.
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
    steps: int = 0
    validation: list[tuple[int, float]] = field(default_factory=list)
    residual: tuple[Tensor, Tensor] | None = None
    moments: list[dict[str, Tensor]] | None = field(default=None, repr=False)
    best_state: tuple[list[Tensor], list[dict[str, Tensor]]] | None = field(default=None, repr=False)

    def numpy(self) -> np.ndarray:
        """The estimate as an H x W x C float32 array."""
        return self.x[0].permute(1, 2, 0).detach().float().cpu().numpy()
