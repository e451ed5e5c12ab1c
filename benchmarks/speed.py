"""Speed of the fit: the fast-path switches and the defaults, as ratios within one run.

    python benchmarks/speed.py [--device auto] [--quick] [--data ../shared/data] [--out benchmarks/results]

Everything is measured in one run on one machine, and each figure is also given as a ratio to
a baseline measured in the same run (timings of different runs do not compare).

On a CPU (``--device cpu``):

1. ``cpu``: ms per step at 128 x 128 x 31 (synthetic, seeded; factor 8, RGB guide, the
   shared-weight network) at widths 16, 32 and 64, for each switch, for the CPU defaults
   (:func:`gdd.fusion.fastpath.device_defaults`) and, at width 64, ``torch.compile``; each as a
   ratio to the plain eager float32 step.
2. ``end_to_end``: the authors' 500-step run against the default CPU preset, wall time of the
   whole ``solve`` (classic starts, held-out choices and refits included) and PSNR, on two cases
   from CAVE scenes none of the defaults were chosen on: ``hs128`` (feathers, rows/cols
   192:320, 128 x 128 x 31, block x8, Nikon D700 response) and ``pan256`` (jelly beans, rows/cols
   128:384, 8 bands each the mean of 4 CAVE bands (the last of 3), the PAN the mean of the 8,
   the MS image filtered by a Gaussian of MTF gain 0.29 at Nyquist and decimated by 4: 64 x 64
   x 8). "The authors" is gdd's network with every fast-path switch off (the plain float32
   path), the authors' preset, no classic start, no held-out pixels, the final estimate: their
   method, run by this code (their own code is not vendored).
3. ``to_quality``: the default CPU preset on the authors' ``pan_im4`` with a cap of 4000 steps:
   the wall time at which an estimate it returns at a log step first reaches 36.30 dB (the
   authors' final PSNR after 8001 GPU steps), stopped there or after 900 s.
4. ``demo`` (only when asked for, ``--cases demo --tag demo``): the wall time of ``gdd demo``
   (a fresh process, as a user runs it), and, in the same run, the demo's fit with the CPU
   defaults against the same fit on the plain float32 path (before the defaults) and against
   the authors' 500-step run on the demo's pair, each with its PSNR.
5. ``profile`` (only when asked for, ``--cases profile``): the ``torch.profiler`` table of 10
   steps at width 64, plain and with the defaults, to ``profile-cpu.txt``.
6. ``operators`` (only when asked for, ``--cases operators --tag operators``; on any device):
   ms per forward and backward pass of each spatial degradation at 256 x 256 x 8, factor 4,
   and of the MTF degradation written as the whole image filtered and then decimated (how
   :func:`gdd.sensors.mtf_decimate` computed it before it computed only the kept pixels), as a
   ratio to it, with the largest difference between the two.

On CUDA (``--device cuda``):

1. ``hs512``: ms per iteration and peak memory, HS 512 x 512 x 31 (synthetic, seeded), factor
   32, RGB guide, width 64, the authors' shared-weight network; one line per switch and for
   the switches together;
2. ``pan_im4``: the same on the authors' pan_im4 (184 x 216 x 8, ratio 4, width 64);
3. ``batch``: images per second for K small images (16 of 128 x 128 x 31, width 64) fitted in
   one stacked run (``solve_many``) against the same K fitted one after another;
4. ``quality``: pan_im4 with the authors' preset (8001 steps, SFIM start): wall time of the
   full run, its PSNR, and the wall time at which the estimate first reaches 36.30 dB (the
   original's final PSNR), for the eager path and the fast paths.

``--quick`` makes every case small and short (minutes on two CPU cores); ``--cases`` picks cases
by name on any device. A switch "paid" when it is at least 5 % faster than eager with the same
first loss (same weights, same code) within tolerance. CUDA-only switches (fused Adam, CUDA
graphs through ``compile="reduce-overhead"``) run only on CUDA. A variant that fails is recorded
with its error and the run goes on. The JSON (commit, hardware, versions, settings, figures)
goes to ``speed-<device>[-quick].json``. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from provenance import commit, machine

from gdd.fusion import FitConfig, FitResult, Term, fit, seeded
from gdd.fusion.fastpath import PLAIN, device_defaults
from gdd.metrics import psnr
from gdd.models import GuidedDeepDecoder, max_depth
from gdd.operators import make_spatial
from gdd.problems import PRESETS, hs_problem, pan_problem, solve, solve_many

HERE = Path(__file__).resolve().parent
TARGET_DB = 36.30  # the original's final PSNR on pan_im4 (measured with the original code)
AUTHORS_STEPS = 500  # the authors' run the CPU default is timed against
PAID = 0.95  # a switch pays when its time is at most this fraction of eager's


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def _variants(device: torch.device, *, compile_: bool) -> dict[str, dict[str, object]]:
    """The fast-path switches, one at a time, then together (CUDA-only ones on CUDA)."""
    cuda = device.type == "cuda"
    out: dict[str, dict[str, object]] = {
        "eager": {},
        "no_running_stats": {"running_stats": False},
        "channels_last": {"channels_last": True},
        "bf16": {"amp": "bf16"},
        "channels_last+bf16": {"channels_last": True, "amp": "bf16"},
    }
    if cuda:
        out["fused_adam"] = {"fused_adam": True}
    if compile_:
        out["compile"] = {"compile": "default", "running_stats": False}
        if cuda:
            out["compile+graphs"] = {"compile": "reduce-overhead", "running_stats": False}
    together: dict[str, object] = {"channels_last": True, "amp": "bf16", "running_stats": False}
    if cuda:
        together["fused_adam"] = True
    if compile_:
        together["compile"] = "reduce-overhead" if cuda else "default"
    out["all"] = together
    return out


class _Clock:
    """Wall time at each log step (the loop synchronises there), for steady-state ms per step."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, float]] = []

    def __call__(self, step: int, x: torch.Tensor, loss: object) -> None:
        self.marks.append((step, time.perf_counter()))

    def ms_per_step(self) -> float:
        (s0, t0), (s1, t1) = self.marks[0], self.marks[-1]
        return 1000 * (t1 - t0) / (s1 - s0)


def _synthetic_hs(size: int, bands: int, factor: int, seed: int) -> tuple[torch.Tensor, ...]:
    """A smooth random HS cube in [0, 1], its block-averaged low-res image, an RGB guide, the response."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, bands, max(size // 16, 2), max(size // 16, 2), generator=g)
    cube = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    cube = (cube + 0.05 * torch.rand(1, bands, size, size, generator=g)).clamp(0, 1)
    srf = torch.rand(3, bands, generator=g)
    srf = srf / srf.sum(dim=1, keepdim=True)
    lowres = make_spatial("block", factor)(cube)
    return cube, lowres, torch.einsum("kc,bchw->bkhw", srf, cube), srf


def _time_network(
    make: Callable[[], tuple[GuidedDeepDecoder, list[Term], torch.Tensor]],
    device: torch.device,
    variants: dict[str, dict[str, object]],
    *,
    warmup: int,
    steps: int,
    rounds: int = 1,
) -> dict[str, Any]:
    """ms per step (steady state, after ``warmup`` steps) and peak memory of each variant.

    With ``rounds`` > 1 the variants are timed in turn, round after round, and each one's figure
    is the median of its rounds: a burst of load on a shared machine then slows one round of
    every variant rather than all of one. Compiled variants run once (their compile dominates).
    """
    rows: dict[str, Any] = {}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(rounds):
        for name, switches in variants.items():
            if "error" in rows.get(name, {}) or (round_ and switches.get("compile", "off") != "off"):
                continue
            _reset_memory(device)
            try:
                model, terms, guide = make()
                clock = _Clock()
                config = FitConfig(iterations=warmup + steps, device=str(device), log_every=warmup, **switches)  # type: ignore[arg-type]
                result = fit(model, terms, guide, config, callback=clock)
                _sync(device)
                times[name].append(clock.ms_per_step())
                rows[name] = {
                    "switches": switches,
                    "ms_per_iteration": statistics.median(times[name]),
                    "rounds_ms": times[name],
                    "peak_gib": _peak_gib(device),
                    "compile_seconds": result.compile_seconds,
                    "first_loss": float(result.loss[0]),
                }
            except Exception as error:  # a variant that fails is a finding, not the end of the run
                rows[name] = {"switches": switches, "error": f"{type(error).__name__}: {error}"}
                traceback.print_exc()
            if rounds == 1 or "error" in rows[name]:  # each line as it is measured
                print(f"  {name:22s} {_fmt(rows[name])}", flush=True)
    if rounds > 1:
        for name, row in rows.items():
            if "error" not in row:
                print(f"  {name:22s} {_fmt(row)}", flush=True)
    _ratios(rows)
    return rows


def _fmt(row: dict[str, Any]) -> str:
    if "error" in row:
        return "FAILED " + row["error"][:200]
    text = f"{row['ms_per_iteration']:9.2f} ms/it"
    if row.get("peak_gib") is not None:
        text += f"  peak {row['peak_gib']:.2f} GiB"
    if row.get("compile_seconds"):
        text += f"  compile {row['compile_seconds']:.1f} s"
    return text


def _ratios(rows: dict[str, Any]) -> None:
    """Each row's time, memory and first loss against eager's; whether it paid."""
    eager = rows.get("eager", {})
    if "ms_per_iteration" not in eager:
        return
    for row in rows.values():
        if "ms_per_iteration" not in row:
            continue
        row["time_ratio"] = row["ms_per_iteration"] / eager["ms_per_iteration"]
        if row.get("peak_gib") is not None and eager.get("peak_gib"):
            row["memory_ratio"] = row["peak_gib"] / eager["peak_gib"]
        # Same weights and code: the first loss differs only by the arithmetic (loose for bf16).
        rel = abs(row["first_loss"] - eager["first_loss"]) / abs(eager["first_loss"])
        tol = 5e-2 if row["switches"].get("amp") == "bf16" else 1e-3
        row["first_loss_rel_diff"] = rel
        row["same_result"] = rel <= tol
        row["paid"] = row["time_ratio"] <= PAID and row["same_result"]


def case_hs512(device: torch.device, quick: bool, compile_: bool) -> dict[str, Any]:
    size, factor, width = (64, 8, 16) if quick else (512, 32, 64)
    warmup, steps = (3, 6) if quick else (20, 100)
    _, lowres, rgb, srf = _synthetic_hs(size, 31, factor, seed=0)
    problem = hs_problem(lowres, rgb, srf, factor)
    depth = min(5, max_depth(size, size))

    def make() -> tuple[GuidedDeepDecoder, list[Term], torch.Tensor]:
        with seeded(0):
            model = GuidedDeepDecoder(3, 31, width=width, depth=depth, sharing="all")
            terms = problem.make_terms()
        return model, terms, problem.guide

    print(f"hs {size} x {size} x 31, factor {factor}, width {width}", flush=True)
    rows = _time_network(make, device, _variants(device, compile_=compile_), warmup=warmup, steps=steps)
    return {"size": [size, size, 31], "factor": factor, "width": width, "steps": steps, "variants": rows}


def _pan_im4(data: Path, quick: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    from gdd.io import read_image, to_tensor

    mat = data / "gdd_demo" / "pan_im4.mat"
    if not mat.is_file():
        return None
    ms, pan, gt = (to_tensor(read_image(f"{mat}:{k}")) for k in ("I_MS_input", "I_PAN_input", "I_MS_GT"))
    if quick:  # a 64 x 64 corner (16 x 16 MS)
        ms, pan, gt = ms[..., :16, :16], pan[..., :64, :64], gt[..., :64, :64]
    return ms, pan, gt


def case_pan_im4(device: torch.device, quick: bool, compile_: bool, data: Path) -> dict[str, Any]:
    loaded = _pan_im4(data, quick)
    if loaded is None:
        print(f"pan_im4: skipped, {data / 'gdd_demo' / 'pan_im4.mat'} not found", flush=True)
        return {"skipped": "pan_im4.mat not found"}
    ms, pan, _ = loaded
    problem = pan_problem(ms, pan, 4)
    width = 16 if quick else 64
    warmup, steps = (3, 6) if quick else (20, 100)
    depth = min(5, max_depth(*pan.shape[-2:]))

    def make() -> tuple[GuidedDeepDecoder, list[Term], torch.Tensor]:
        with seeded(0):
            model = GuidedDeepDecoder(1, ms.shape[1], width=width, depth=depth, sharing="partial")
            terms = problem.make_terms()
        return model, terms, problem.guide

    print(f"pan_im4 {tuple(pan.shape[-2:])} x {ms.shape[1]}, width {width}", flush=True)
    rows = _time_network(make, device, _variants(device, compile_=compile_), warmup=warmup, steps=steps)
    return {"size": [*pan.shape[-2:], ms.shape[1]], "width": width, "steps": steps, "variants": rows}


def case_batch(device: torch.device, quick: bool, fast: dict[str, object]) -> dict[str, Any]:
    """Images per second: K images one after another against K images in one stacked run."""
    k, size, width, iters = (4, 32, 8, 8) if quick else (16, 128, 64, 200)
    problems = []
    for i in range(k):
        _, lowres, rgb, srf = _synthetic_hs(size, 31, 8, seed=100 + i)
        problems.append(hs_problem(lowres, rgb, srf, 8))
    settings = dict(
        device=str(device), iterations=iters, width=width, budget="authors", init="none", keep_best=False, holdout=0.0
    )
    print(f"batch: {k} images of {size} x {size} x 31, width {width}, {iters} steps", flush=True)
    out: dict[str, Any] = {"k": k, "size": [size, size, 31], "width": width, "iterations": iters}
    runs: dict[str, Callable[[], list[FitResult]]] = {
        "one_after_another": lambda: [solve(p, **settings) for p in problems],  # type: ignore[arg-type]
        "stacked": lambda: solve_many(problems, **settings),  # type: ignore[arg-type]
    }
    if fast:
        runs["stacked+fast"] = lambda: solve_many(problems, fast=fast, **settings)  # type: ignore[arg-type]
        runs["one_after_another+fast"] = lambda: [solve(p, fast=fast, **settings) for p in problems]  # type: ignore[arg-type]
    finals: dict[str, list[float]] = {}
    for name, run in runs.items():
        _reset_memory(device)
        try:
            _sync(device)
            start = time.perf_counter()
            results = run()
            _sync(device)
            seconds = time.perf_counter() - start
            # One compile per separate fit; one for the stacked run.
            compile_s = (
                sum(r.compile_seconds for r in results) if name.startswith("one") else results[0].compile_seconds
            )
            finals[name] = [float(r.loss[-1]) for r in results]
            out[name] = {
                "seconds": seconds,
                "compile_seconds": compile_s,
                "images_per_second": k / seconds,
                "images_per_second_without_compile": k / max(seconds - compile_s, 1e-9),
                "peak_gib": _peak_gib(device),
            }
        except Exception as error:
            out[name] = {"error": f"{type(error).__name__}: {error}"}
            traceback.print_exc()
        print(f"  {name:24s} {out[name]}", flush=True)
    base = out.get("one_after_another", {}).get("images_per_second_without_compile")
    for name in runs:
        if base and "images_per_second" in out[name]:
            out[name]["speedup"] = out[name]["images_per_second_without_compile"] / base
    if "one_after_another" in finals and "stacked" in finals:
        # Same seeds and settings: the final losses agree up to rounding (chaotic over many steps).
        out["final_loss_one_after_another"] = finals["one_after_another"]
        out["final_loss_stacked"] = finals["stacked"]
    return out


def case_quality(device: torch.device, quick: bool, fast: dict[str, object], data: Path) -> dict[str, Any]:
    """Wall time of the pan preset's full run and to reach the original's PSNR."""
    loaded = _pan_im4(data, quick)
    if loaded is None:
        print("quality: skipped, pan_im4.mat not found", flush=True)
        return {"skipped": "pan_im4.mat not found"}
    ms, pan, gt = loaded
    problem = pan_problem(ms, pan, 4)
    gt = gt.to(device)
    settings: dict[str, Any] = dict(device=str(device), budget="authors", seed=0, log_every=10 if quick else 50)
    if quick:
        settings.update(iterations=60, width=16, warm_start=10, average_last=10)
    variants: dict[str, dict[str, object]] = {"eager": {}}
    if fast:
        variants["fast"] = dict(fast)
        variants["fast+cosine"] = {**fast, "lr_final": 0.001}
    variants["eager+cosine"] = {"lr_final": 0.001}
    out: dict[str, Any] = {"target_db": TARGET_DB, "settings": {k: v for k, v in settings.items() if k != "device"}}
    for name, switches in variants.items():
        _reset_memory(device)
        curve: list[tuple[int, float, float]] = []
        spent = [0.0]  # time inside the callback (the PSNR), left out of the wall time
        start = time.perf_counter()

        def callback(
            step: int,
            x: torch.Tensor,
            loss: float,
            curve: list[tuple[int, float, float]] = curve,
            spent: list[float] = spent,
            start: float = start,
        ) -> None:
            t = time.perf_counter()
            curve.append((step, t - start - spent[0], psnr(x.clamp(0, 1), gt)))
            spent[0] += time.perf_counter() - t

        try:
            result = solve(problem, callback=callback, fast=switches, **settings)
            _sync(device)
            wall = time.perf_counter() - start - spent[0]
            out[name] = {
                "switches": switches,
                "seconds": wall,
                "compile_seconds": result.compile_seconds,
                "psnr": psnr(result.x.clamp(0, 1), gt),
                "curve": curve,
            }
        except Exception as error:
            out[name] = {"switches": switches, "error": f"{type(error).__name__}: {error}"}
            traceback.print_exc()
    target = out["eager"]["psnr"] if quick and "psnr" in out.get("eager", {}) else TARGET_DB
    out["target_db"] = target
    for name in variants:
        row = out[name]
        if "curve" in row:
            reached = [t for _, t, p in row["curve"] if p >= target]
            row["seconds_to_target"] = reached[0] if reached else None
            print(
                f"  {name:14s} {row['seconds']:8.1f} s  PSNR {row['psnr']:.2f} dB  "
                f"to {target:.2f} dB: {row['seconds_to_target']}",
                flush=True,
            )
    return out


def case_cpu(quick: bool, compile_: bool, threads: list[int]) -> dict[str, Any]:
    """ms per step at 128 x 128 x 31 on the CPU (factor 8) per width, switch and thread count."""
    device = torch.device("cpu")
    warmup, steps = (2, 5) if quick else (5, 20)
    size = 64 if quick else 128
    _, lowres, rgb, srf = _synthetic_hs(size, 31, 8, seed=0)
    problem = hs_problem(lowres, rgb, srf, 8)
    widths = (8, 16) if quick else (16, 32, 64)
    out: dict[str, Any] = {"size": [size, size, 31], "widths": list(widths), "steps": steps}
    before = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            for width in widths:

                def make(width: int = width) -> tuple[GuidedDeepDecoder, list[Term], torch.Tensor]:
                    with seeded(0):
                        depth = min(5, max_depth(size, size))
                        model = GuidedDeepDecoder(3, 31, width=width, depth=depth, sharing="all")
                        terms = problem.make_terms()
                    return model, terms, problem.guide

                variants = _variants(device, compile_=compile_ and width == widths[-1])
                variants["defaults"] = dict(device_defaults(device, width))
                print(f"cpu {size} x {size} x 31, width {width}, {n} thread(s)", flush=True)
                out[f"threads_{n}_width_{width}"] = _time_network(
                    make, device, variants, warmup=warmup, steps=steps, rounds=1 if quick else 3
                )
    finally:
        torch.set_num_threads(before)
    return out


def _cave_cube(data: Path, scene: str, rows: slice) -> torch.Tensor | None:
    """A CAVE scene's 31 bands, cropped to ``rows`` x ``rows``, as (1, 31, H, W) in [0, 1]."""
    from gdd.io import read_image, to_tensor

    folder = data / "cave" / f"{scene}_ms"
    if not folder.is_dir():
        return None
    return to_tensor(read_image(str(folder))[rows, rows])


def _d700(data: Path) -> torch.Tensor:
    from gdd.io import read_matrix

    srf = torch.from_numpy(read_matrix(data / "srf" / "nikon_d700_akhtar2014_400-700nm_10nm.csv")).T.float()
    return srf / srf.sum(dim=1, keepdim=True)


def end_to_end_problems(data: Path, quick: bool) -> dict[str, tuple[Any, torch.Tensor, int]]:
    """The end-to-end cases: name -> (problem, reference, ratio); see the module's docstring."""
    from gdd.sensors import mtf_decimate

    cases: dict[str, tuple[Any, torch.Tensor, int]] = {}
    n = 32 if quick else 128
    feathers = _cave_cube(data, "feathers", slice(192, 192 + n))
    if feathers is not None:
        rgb = torch.einsum("kc,bchw->bkhw", _d700(data), feathers)
        cases["hs128"] = (hs_problem(make_spatial("block", 8)(feathers), rgb, _d700(data), 8), feathers, 8)
    m = 64 if quick else 256
    beans = _cave_cube(data, "jelly_beans", slice(128, 128 + m))
    if beans is not None:
        gt = torch.stack([beans[:, i : i + 4].mean(dim=1) for i in range(0, 31, 4)], dim=1)  # 8 bands
        pan = gt.mean(dim=1, keepdim=True)
        ms = mtf_decimate(gt, 4, [0.29] * gt.shape[1]).float()
        cases["pan256"] = (pan_problem(ms, pan, 4), gt, 4)
    return cases


def _refit_steps(choice: dict[str, Any]) -> list[int]:
    """The steps of every refit on every pixel a default run made (its chosen start's, or each averaged start's)."""
    found = [choice["refit_steps"]] if "refit_steps" in choice else []
    return found + [s["refit_steps"] for s in choice.get("starts", []) if "refit_steps" in s]


def case_end_to_end(
    quick: bool, data: Path, only: list[str] | None = None, *, half_width: bool = False, caps: tuple[int, ...] = ()
) -> dict[str, Any]:
    """The authors' 500-step run against the default CPU preset, end to end, on two unseen cases.

    With ``half_width``, also the default at half its preset's width (``--width``), a user's
    faster choice; with ``caps``, also the default with each of these ``--iterations`` (the cap
    of each fit, and of the chosen one going on with every pixel), another.
    """
    out: dict[str, Any] = {"authors_steps": AUTHORS_STEPS}
    problems = {k: v for k, v in end_to_end_problems(data, quick).items() if only is None or k in only}
    if not problems:
        print("end_to_end: skipped, no CAVE scenes found", flush=True)
        return {"skipped": "CAVE feathers and jelly beans not found"}
    authors_steps = 20 if quick else AUTHORS_STEPS
    for name, (problem, reference, _) in problems.items():
        row: dict[str, Any] = {"size": [*reference.shape[-2:], reference.shape[1]]}
        runs: dict[str, dict[str, Any]] = {
            "authors": dict(
                budget="authors",
                init="none",
                keep_best=False,
                average_last=0,
                more_starts=(),
                holdout=0.0,
                iterations=authors_steps,
                fast=PLAIN,
            ),
            "default": dict(iterations=30 if quick else None, width=8 if quick else None, fast=None),
        }
        if half_width:
            width = PRESETS[(problem.task, "cpu")].width // 2
            runs["half width"] = dict(iterations=30 if quick else None, width=4 if quick else width, fast=None)
        for cap in caps:
            runs[f"cap {cap}"] = dict(iterations=cap, width=8 if quick else None, fast=None)
        if quick:
            runs["authors"]["width"] = 8
        for run, options in runs.items():
            options = {k: v for k, v in options.items() if v is not None or k == "fast"}
            if run == "authors" and problem.alternatives:
                # The authors' operator: bicubic (their loss), under the pair's spatial model choice.
                subject = problem.alternatives["bicubic"]()
            else:
                subject = problem
            start = time.perf_counter()
            result = solve(subject, device="cpu", seed=0, **options)
            seconds = time.perf_counter() - start
            x = result.x.detach().float().cpu().clamp(0, 1)
            row[run] = {
                "seconds": seconds,
                "steps": result.steps,
                "psnr": psnr(x, reference),
                "chosen": result.choice.get("chosen"),
                "model": result.details.get("model_choice", {}).get("chosen"),
                "refit_steps": _refit_steps(result.choice),
                "fast": {k: v for k, v in result.config.to_dict().items() if k in ("channels_last", "amp")},
            }
            print(
                f"  {name} {run:8s} {seconds:8.1f} s  {result.steps:5d} steps  PSNR {row[run]['psnr']:.2f} dB",
                flush=True,
            )
        row["time_ratio"] = row["default"]["seconds"] / row["authors"]["seconds"]
        row["psnr_gain_db"] = row["default"]["psnr"] - row["authors"]["psnr"]
        if "half width" in row:
            row["half width"]["width"] = runs["half width"]["width"]
            row["half_width_time_ratio"] = row["half width"]["seconds"] / row["authors"]["seconds"]
            row["half_width_psnr_gain_db"] = row["half width"]["psnr"] - row["authors"]["psnr"]
        for cap in caps:
            row[f"cap {cap}"]["time_ratio"] = row[f"cap {cap}"]["seconds"] / row["authors"]["seconds"]
            row[f"cap {cap}"]["psnr_gain_db"] = row[f"cap {cap}"]["psnr"] - row["authors"]["psnr"]
        print(f"  {name}: default/authors time {row['time_ratio']:.3f}, PSNR {row['psnr_gain_db']:+.2f} dB", flush=True)
        out[name] = row
    return out


def case_profile(out: Path) -> dict[str, Any]:
    """The ``torch.profiler`` table of 10 CPU steps at 128 x 128 x 31, width 64: plain and defaults."""
    from torch.profiler import ProfilerActivity, profile

    _, lowres, rgb, srf = _synthetic_hs(128, 31, 8, seed=0)
    problem = hs_problem(lowres, rgb, srf, 8)
    tables = []
    for name, switches in (("plain", dict(PLAIN)), ("defaults", device_defaults(torch.device("cpu"), 64))):
        with seeded(0):
            model = GuidedDeepDecoder(3, 31, width=64, depth=5, sharing="all")
            terms = problem.make_terms()
        fit(model, terms, problem.guide, FitConfig(iterations=2, device="cpu", **switches))  # type: ignore[arg-type]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fit(model, terms, problem.guide, FitConfig(iterations=10, device="cpu", **switches))  # type: ignore[arg-type]
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
        tables.append(f"## {name}: {switches}\n\n{table}\n")
        print(tables[-1], flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile-cpu.txt").write_text(
        "10 CPU steps of gdd hs at 128 x 128 x 31, width 64 (python benchmarks/speed.py --cases profile)\n\n"
        + "\n".join(tables)
    )
    return {"written": "profile-cpu.txt"}


def case_operators(device: torch.device, quick: bool) -> dict[str, Any]:
    """ms per forward + backward pass of each spatial degradation, and of the MTF one filtering every pixel."""
    from gdd.sensors import mtf_filter

    size, bands, ratio, reps = (64, 8, 4, 3) if quick else (256, 8, 4, 10)
    x = torch.rand(1, bands, size, size, generator=torch.Generator().manual_seed(0)).to(device).requires_grad_()
    off = ratio // 2

    def every_pixel(t: torch.Tensor) -> torch.Tensor:
        return mtf_filter(t, ratio, [0.29] * bands)[..., off::ratio, off::ratio]

    ops: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        name: make_spatial(name, ratio).to(device)  # type: ignore[arg-type]
        for name in ("block", "gaussian", "bicubic", "mtf")
    }
    ops["mtf, every pixel filtered"] = every_pixel
    times: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(5):  # interleaved rounds: a shared machine's swings hit every operator alike
        for name, op in ops.items():
            _sync(device)
            start = time.perf_counter()
            for _ in range(reps):
                op(x).square().sum().backward()
            _sync(device)
            times[name].append(1000 * (time.perf_counter() - start) / reps)
    ms = {name: statistics.median(t) for name, t in times.items()}
    with torch.no_grad():
        difference = float((ops["mtf"](x) - every_pixel(x)).abs().max())
    for name, value in ms.items():
        print(f"  {name:28s} {value:8.2f} ms", flush=True)
    return {
        "size": [size, size, bands],
        "ratio": ratio,
        "ms": ms,
        "rounds": times,
        "mtf_over_every_pixel": ms["mtf"] / ms["mtf, every pixel filtered"],
        "mtf_max_difference": difference,
    }


class _Stop(Exception):
    """Raised by the callback to end a run once it has what it measures."""


def case_to_quality(quick: bool, data: Path) -> dict[str, Any]:
    """Wall time of the default CPU preset to reach the authors' final PSNR on pan_im4."""
    loaded = _pan_im4(data, quick)
    if loaded is None:
        print("to_quality: skipped, pan_im4.mat not found", flush=True)
        return {"skipped": "pan_im4.mat not found"}
    ms, pan, gt = loaded
    cap, limit = (60, 120.0) if quick else (4000, 900.0)
    target = 30.0 if quick else TARGET_DB
    curve: list[tuple[int, float, float]] = []
    spent = [0.0]
    start = time.perf_counter()

    def callback(step: int, x: torch.Tensor, loss: float) -> None:
        t = time.perf_counter()
        value = psnr(x.detach().float().cpu().clamp(0, 1), gt)
        spent[0] += time.perf_counter() - t
        elapsed = t - start - spent[0]
        curve.append((step, elapsed, value))
        if value >= target or elapsed > limit:
            raise _Stop

    reached = None
    returned: dict[str, Any] = {}
    try:
        result = solve(pan_problem(ms, pan, 4), device="cpu", seed=0, iterations=cap, log_every=25,
                       callback=callback, **({"width": 16} if quick else {}))  # fmt: skip
        # The run ended by itself (the curve follows the held-out fit, then the chosen fit going on
        # with every pixel; what it returned is scored here).
        returned = {"seconds": time.perf_counter() - start - spent[0], "steps": result.steps,
                    "psnr": psnr(result.x.detach().float().cpu().clamp(0, 1), gt),
                    "refit_steps": _refit_steps(result.choice)}  # fmt: skip
    except _Stop:
        pass
    hits = [t for _, t, p in curve if p >= target]
    reached = hits[0] if hits else None
    best = max((p for _, _, p in curve), default=float("nan"))
    print(f"  pan_im4 default: {target:.2f} dB reached after {reached} s (best {best:.2f} dB)", flush=True)
    if returned:
        print(f"  pan_im4 default returned {returned['psnr']:.2f} dB after {returned['seconds']:.1f} s", flush=True)
    return {"target_db": target, "cap_steps": cap, "limit_seconds": limit, "seconds_to_target": reached,
            "best_psnr": best, "returned": returned, "curve": curve}  # fmt: skip


def case_demo(quick: bool) -> dict[str, Any]:
    """``gdd demo``'s wall time, and its fit with the defaults, on the plain path and as the authors'."""
    import subprocess
    import tempfile

    from gdd.demo import camera_response, simulated_scene
    from gdd.io import to_tensor

    size, factor = (64, 8) if quick else (128, 8)
    out: dict[str, Any] = {"size": size, "factor": factor}
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "gdd", "demo", "--out", folder, "--quiet", "--device", "cpu"]
        command += ["--size", str(size), *(["--iterations", "30"] if quick else [])]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        out["gdd_demo_seconds"] = time.perf_counter() - start
        out["gdd_demo_psnr"] = json.loads((Path(folder) / "metrics.json").read_text())["metrics"]["gdd"]["psnr"]
    print(f"  gdd demo: {out['gdd_demo_seconds']:.1f} s, {out['gdd_demo_psnr']:.2f} dB", flush=True)
    truth = to_tensor(simulated_scene(size))
    srf = torch.from_numpy(camera_response()).float()
    hsi = torch.nn.functional.avg_pool2d(truth, factor)
    problem = hs_problem(hsi, torch.einsum("kc,bchw->bkhw", srf, truth), srf, factor)
    steps = 30 if quick else None
    runs: dict[str, dict[str, Any]] = {
        "default": dict(iterations=steps, fast=None),
        "plain": dict(iterations=steps, fast=PLAIN),
        "authors": dict(budget="authors", init="none", keep_best=False, average_last=0, more_starts=(),
                        holdout=0.0, iterations=20 if quick else AUTHORS_STEPS, fast=PLAIN),
    }  # fmt: skip
    for run, options in runs.items():
        options = {k: v for k, v in options.items() if v is not None or k == "fast"}
        start = time.perf_counter()
        result = solve(problem, device="cpu", seed=0, **options)
        seconds = time.perf_counter() - start
        out[run] = {"seconds": seconds, "steps": result.steps, "chosen": result.choice.get("chosen"),
                    "psnr": psnr(result.x.detach().float().cpu().clamp(0, 1), truth)}  # fmt: skip
        print(
            f"  demo fit {run:8s} {seconds:8.1f} s  {result.steps:5d} steps  PSNR {out[run]['psnr']:.2f} dB", flush=True
        )
    out["default_over_plain"] = out["default"]["seconds"] / out["plain"]["seconds"]
    out["default_over_authors"] = out["default"]["seconds"] / out["authors"]["seconds"]
    print(f"  demo fit: default/plain time {out['default_over_plain']:.3f}, default/authors "
          f"{out['default_over_authors']:.3f}", flush=True)  # fmt: skip
    return out


def _paid(section: dict[str, Any]) -> list[str]:
    rows = section.get("variants", section)
    return [k for k, v in rows.items() if isinstance(v, dict) and v.get("paid")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes and few steps (a CPU check of the script)")
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--cases",
        default="",
        help="comma-separated cases to run (default: the device's: "
        "cpu,end_to_end,to_quality on a CPU; hs512,pan_im4,batch,quality on CUDA)",
    )
    parser.add_argument("--skip", default="", help="comma-separated cases to leave out")
    parser.add_argument("--end-to-end", default="", help="the end_to_end case's pairs (default: hs128,pan256)")
    parser.add_argument(
        "--half-width", action="store_true", help="end_to_end: also the default at half its preset's width"
    )
    parser.add_argument(
        "--caps", default="", help="end_to_end: also the default with each of these --iterations (comma-separated)"
    )
    parser.add_argument("--tag", default="", help="a suffix of the JSON's name (speed-DEVICE[-quick][-TAG].json)")
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile variants")
    parser.add_argument("--threads", default="", help="CPU thread counts for the cpu case (default: the torch default)")
    args = parser.parse_args(argv)
    from gdd.fusion import resolve_device

    device = resolve_device(args.device)
    skip = set(filter(None, args.skip.split(",")))
    compile_ = not args.no_compile
    threads = [int(t) for t in args.threads.split(",") if t] or [torch.get_num_threads()]
    cuda = device.type == "cuda"
    # The switches the batch and quality cases use as "fast" on CUDA: all of them; elsewhere the
    # device's defaults (which the presets use anyway) and no running statistics.
    fast: dict[str, object] = (
        {"channels_last": False, "amp": "bf16", "fused_adam": True, "running_stats": False}
        | ({"compile": "reduce-overhead"} if compile_ else {})
        if cuda
        else {"running_stats": False}
    )
    report: dict[str, Any] = {
        "benchmark": "speed",
        # Paths as placeholders: no path of the machine it ran on.
        "argv": [
            {str(args.data): "$DATA", str(args.out): "$OUT"}.get(a, a) for a in (sys.argv[1:] if argv is None else argv)
        ],
        "commit": commit(),
        "device": str(device),
        "quick": args.quick,
        "hardware": machine(str(device)),
        "fast": fast,
        "cpu_defaults": device_defaults(torch.device("cpu"), 64),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    cases: dict[str, Callable[[], dict[str, Any]]] = {
        "cpu": lambda: case_cpu(args.quick, compile_, threads),
        "end_to_end": lambda: case_end_to_end(
            args.quick,
            args.data,
            [c for c in args.end_to_end.split(",") if c] or None,
            half_width=args.half_width,
            caps=tuple(int(c) for c in args.caps.split(",") if c),
        ),
        "to_quality": lambda: case_to_quality(args.quick, args.data),
        "demo": lambda: case_demo(args.quick),
        "profile": lambda: case_profile(args.out),
        "operators": lambda: case_operators(device, args.quick),
        "hs512": lambda: case_hs512(device, args.quick, compile_),
        "pan_im4": lambda: case_pan_im4(device, args.quick, compile_, args.data),
        "batch": lambda: case_batch(device, args.quick, fast),
        "quality": lambda: case_quality(device, args.quick, fast, args.data),
    }
    chosen = [c for c in args.cases.split(",") if c] or (
        ["hs512", "pan_im4", "batch", "quality"] if cuda else ["cpu", "end_to_end", "to_quality"]
    )
    unknown = [c for c in chosen if c not in cases]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; known: {', '.join(cases)}")
    if "cpu" in chosen and cuda:
        parser.error("the cpu case measures the CPU: run it with --device cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    # The profile case writes its own table; alone, it leaves the JSON of the other cases alone.
    tag = args.tag or ("profile" if chosen == ["profile"] else "")
    path = args.out / f"speed-{device.type}{'-quick' if args.quick else ''}{'-' + tag if tag else ''}.json"
    for name in chosen:
        if name in skip:
            continue
        start = time.perf_counter()
        report[name] = cases[name]()
        report[name]["case_seconds"] = time.perf_counter() - start
        # Written after every case, so that a run stopped by a time limit keeps what it measured.
        path.write_text(json.dumps(report, indent=1, default=str))
    paid = {name: _paid(report[name]) for name in ("hs512", "pan_im4") if name in report}
    for key, section in report.get("cpu", {}).items():
        if key.startswith("threads_"):
            paid[f"cpu_{key}"] = _paid(section)
    report["paid"] = paid
    print("switches that paid (>= 5 % faster than eager, same first loss):", flush=True)
    for name, names in paid.items():
        print(f"  {name}: {', '.join(names) or 'none'}", flush=True)
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"written {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
