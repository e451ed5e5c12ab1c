"""The fast path: the network as the switches ask (channels-last, bf16, ``torch.compile``).

Every switch of :class:`FitConfig` is off: a fit built by hand runs the plain float32 path. The
presets add :func:`device_defaults`, the switches measured to pay on the device
(``benchmarks/speed.py``, ``benchmarks/fast_quality.py``); results stay equal to the plain path
within tolerance.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from ..models import drop_running_stats
from .config import FitConfig

__all__ = [
    "BF16_MIN_WIDTH",
    "PLAIN",
    "NetworkFn",
    "TrainNetwork",
    "cpu_flags",
    "device_defaults",
    "fast_network",
    "native_bf16",
]

#: A network as the loop runs it: ``network(guide, z) -> x``.
NetworkFn = Callable[[Tensor, Tensor], Tensor]


#: The switches that make a preset's fit the plain float32 path on any device (``fast=PLAIN``).
PLAIN: dict[str, object] = {"channels_last": False, "amp": "off"}

#: CPU flags of hardware bfloat16 arithmetic: x86 (AVX512-BF16, AMX) and Arm (BF16).
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


@functools.cache
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags, read from ``cpuinfo`` (x86 ``flags``, Arm ``Features``); empty where unreadable.

    Example:
        >>> cpu_flags("/nonexistent")
        frozenset()
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@functools.cache
def native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU does bfloat16 arithmetic in hardware (read from ``cpuinfo``'s flags).

    Without it PyTorch emulates bfloat16 with float32 instructions, which is slower than float32
    alone; where the flags cannot be read (not Linux) the answer is False.

    Example:
        >>> native_bf16("/nonexistent")
        False
    """
    return bool(_BF16_FLAGS & cpu_flags(cpuinfo))


#: The narrowest network bf16 autocast is used for by default. On two cores (128 x 128 x 31,
#: three interleaved rounds, ``benchmarks/speed.py --device cpu``) channels-last with bf16 took
#: 0.46x the plain float32 step at width 64 and 0.58x at width 32, against 0.90x and 0.89x for
#: channels-last alone; at width 16, 0.81x against 0.85x, too close to call on a shared machine,
#: and the flash preset's quality with bf16 is not measured: it stays off there.
BF16_MIN_WIDTH = 32


def device_defaults(device: torch.device, width: int = 64) -> dict[str, object]:
    """The fast-path switches a preset turns on by default on ``device`` for a network of ``width``.

    On a CPU: channels-last, and, for networks at least :data:`BF16_MIN_WIDTH` wide on a CPU
    with bfloat16 in hardware (:func:`native_bf16`), bf16 autocast: with both, a step took 0.46x
    the plain float32 one at width 64 and 0.58x at width 32 (128 x 128 x 31, two cores);
    channels-last alone 0.85x at width 16. ``torch.compile`` stays off: at width 64 it compiled
    for 92 s and then ran at 1.08x the eager step. Elsewhere none: on an H200 at 512 x 512 x 31,
    width 64, bf16 autocast (1.29x), channels-last (1.03x) and fused Adam (1.06x) each made the
    step slower, and everything with CUDA graphs (0.52x) compiled for 43 s, won back only after
    about 5,700 steps. The figures come from ``benchmarks/speed.py --device cpu`` and
    ``--device cuda`` (``benchmarks/results/speed-cpu-step.json``, ``speed-cuda.json``).

    Example:
        >>> device_defaults(torch.device("cuda"))
        {}
        >>> device_defaults(torch.device("cpu"), width=16)
        {'channels_last': True, 'amp': 'off'}
    """
    if device.type != "cpu":
        return {}
    bf16 = width >= BF16_MIN_WIDTH and native_bf16()
    return {"channels_last": True, "amp": "bf16" if bf16 else "off"}


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
