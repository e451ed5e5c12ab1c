"""The fast path: the network as the switches ask (channels-last, bf16, ``torch.compile``).

Every switch is off by default and each is kept only where a measurement shows it pays
(``benchmarks/speed.py``); results stay equal to the plain path within tolerance.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..models import drop_running_stats
from .config import FitConfig

__all__ = ["NetworkFn", "TrainNetwork", "fast_network"]

#: A network as the loop runs it: ``network(guide, z) -> x``.
NetworkFn = Callable[[Tensor, Tensor], Tensor]


def fast_network(model: nn.Module, config: FitConfig) -> NetworkFn:
    """The network as the fast-path switches ask (the model itself when they are all off)."""
    if config.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if not config.running_stats:
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


def _compile(network: NetworkFn, config: FitConfig, device: torch.device) -> NetworkFn:
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


class TrainNetwork:
    """The network the steps of a fit run: compiled when asked, eager after a failed compile.

    ``__call__`` runs it (marking the step for CUDA graphs); ``first_step(fn, z_step, start)``
    runs step 0 through ``fn(0, z_step)``, and with ``compile`` times it apart
    (``compile_seconds``) and falls back to the eager network if compiling fails.

    Args:
        net: the eager network (``fast_network``'s, or K networks stacked under ``vmap``).
        config: ``compile`` is read.
        device: the fit's device (CUDA graphs and synchronisation only on CUDA).
    """

    def __init__(self, net: NetworkFn, config: FitConfig, device: torch.device) -> None:
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
