"""The CPU defaults of the fast path: which switches the presets turn on, and that they pay.

The timing test is the quick version of ``benchmarks/speed.py --device cpu``: both paths are
timed in turn in one process (a burst of load then slows both) and the bound is loose against
the measured ratio (0.46 at width 64 on 128 x 128 on two cores).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
import torch

from gdd.fusion import FitConfig, Term, fit, seeded
from gdd.fusion.fastpath import BF16_MIN_WIDTH, PLAIN, device_defaults, native_bf16
from gdd.models import GuidedDeepDecoder
from gdd.operators import BlockAverage, SpectralResponse
from gdd.problems import PRESETS
from gdd.problems.presets import fit_config


def test_the_presets_run_channels_last_on_a_cpu_and_bf16_only_where_it_pays() -> None:
    for (task, budget), preset in PRESETS.items():
        config = fit_config(preset, seed=0, device="cpu", log_every=50, fast=None, classic_start=False)
        assert config.channels_last, (task, budget)
        assert config.amp == ("bf16" if native_bf16() and preset.width >= BF16_MIN_WIDTH else "off"), (task, budget)
        plain = fit_config(preset, seed=0, device="cpu", log_every=50, fast=PLAIN, classic_start=False)
        assert not plain.channels_last and plain.amp == "off"
    assert device_defaults(torch.device("cuda")) == {} and device_defaults(torch.device("mps")) == {}


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    native_bf16.cache_clear()
    try:
        (tmp_path / "x86").write_text("processor: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\n")
        (tmp_path / "x86bf16").write_text("processor: 0\nflags\t\t: fpu avx512f avx512_bf16\n")
        (tmp_path / "amx").write_text("flags: fpu amx_bf16 amx_tile\n")
        (tmp_path / "arm").write_text("Features\t: fp asimd bf16 i8mm\n")
        assert not native_bf16(str(tmp_path / "x86"))  # AVX-512 alone: bf16 is emulated
        assert native_bf16(str(tmp_path / "x86bf16")) and native_bf16(str(tmp_path / "amx"))
        assert native_bf16(str(tmp_path / "arm")) and not native_bf16(str(tmp_path / "missing"))
    finally:
        native_bf16.cache_clear()


def test_the_command_line_turns_the_defaults_off_and_says_what_ran(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    import numpy as np

    from gdd.cli import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "pan.npy", rng.random((32, 32)).astype(np.float32))
    np.save(tmp_path / "ms.npy", rng.random((8, 8, 3)).astype(np.float32))
    argv = ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4",
            "--iterations", "4", "--width", "8", "--device", "cpu", "--quiet"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "a.npy"), "--json", str(tmp_path / "a.json")]) == 0
    settings = json.loads((tmp_path / "a.json").read_text())["settings"]
    assert settings["channels_last"] and settings["amp"] == "off"  # width 8: no bf16
    assert "ms/step, channels-last) on cpu" in capsys.readouterr().out
    assert (
        main([*argv, "--no-channels-last", "--out", str(tmp_path / "b.npy"), "--json", str(tmp_path / "b.json")]) == 0
    )
    settings = json.loads((tmp_path / "b.json").read_text())["settings"]
    assert not settings["channels_last"] and settings["amp"] == "off"
    assert "ms/step) on cpu" in capsys.readouterr().out


def _ms_per_step(switches: dict[str, object], width: int, size: int, steps: int) -> float:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 31, size, size, generator=g)
    srf = torch.rand(3, 31, generator=g)
    srf = srf / srf.sum(dim=1, keepdim=True)
    rgb = torch.einsum("kc,bchw->bkhw", srf, x)
    terms = [Term(BlockAverage(8), BlockAverage(8)(x), weight=1.0), Term(SpectralResponse(srf), rgb)]
    with seeded(0):
        net = GuidedDeepDecoder(3, 31, width=width, depth=4)
    marks: list[float] = []
    config = FitConfig(iterations=steps + 2, device="cpu", log_every=1, **switches)  # type: ignore[arg-type]
    fit(net, terms, rgb, config, callback=lambda step, x, loss: marks.append(time.perf_counter()))
    return 1000 * (marks[-1] - marks[1]) / (len(marks) - 2)


@pytest.mark.skipif(not native_bf16(), reason="this CPU has no hardware bf16: the default there is channels-last alone")
def test_the_cpu_defaults_are_faster_than_the_plain_path_at_width_64() -> None:
    defaults = device_defaults(torch.device("cpu"), 64)
    plain, fast = [], []
    for _ in range(3):
        plain.append(_ms_per_step(dict(PLAIN), 64, 96, 4))
        fast.append(_ms_per_step(defaults, 64, 96, 4))
    ratio = statistics.median(fast) / statistics.median(plain)
    assert ratio < 0.8, f"defaults {statistics.median(fast):.0f} ms, plain {statistics.median(plain):.0f} ms per step"


def test_under_cpu_autocast_the_network_pads_in_bfloat16_without_changing_its_output() -> None:
    # CPU autocast pads in float32; the network's padding keeps the activation's dtype, so no
    # activation is copied to float32 and back, and the convolutions see the same values.
    from gdd.models import _ReflectionPad

    x = torch.rand(1, 4, 9, 7).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        padded = _ReflectionPad(1)(x)
    assert padded.dtype == torch.bfloat16
    assert torch.equal(padded.float(), torch.nn.ReflectionPad2d(1)(x.float()))
    with seeded(0):
        net = GuidedDeepDecoder(3, 5, width=8, depth=2)
    guide, z = torch.rand(1, 3, 16, 16), torch.rand(net.code_shape(16, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = net(guide, z)
        for module in net.modules():
            if isinstance(module, _ReflectionPad):
                module.__class__ = torch.nn.ReflectionPad2d  # the float32 padding of autocast
        slow = net(guide, z)
    assert torch.equal(fast, slow)


def test_the_mtf_degradation_costs_a_fraction_of_filtering_every_pixel() -> None:
    # The quick version of `benchmarks/speed.py --cases operators` (0.17x at 256 x 256 x 8):
    # forward and backward pass at 128 x 128 x 8, ratio 4, the two ways timed in turn.
    from gdd.operators import MTFDownsample
    from gdd.sensors import mtf_filter

    x = torch.rand(1, 8, 128, 128, generator=torch.Generator().manual_seed(0)).requires_grad_()
    strided = MTFDownsample(4, 0.29)

    def every_pixel(t: torch.Tensor) -> torch.Tensor:
        return mtf_filter(t, 4, [0.29])[..., 2::4, 2::4]

    times: dict[str, list[float]] = {"strided": [], "every": []}
    for _ in range(5):
        for name, op in (("strided", strided), ("every", every_pixel)):
            start = time.perf_counter()
            for _ in range(3):
                op(x).square().sum().backward()
            times[name].append(time.perf_counter() - start)
    ratio = min(times["strided"]) / min(times["every"])
    assert ratio < 0.5, f"strided {min(times['strided']):.4f} s, every pixel {min(times['every']):.4f} s"
    assert torch.allclose(strided(x), every_pixel(x), rtol=0, atol=1e-6)
