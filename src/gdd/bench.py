"""``gdd bench``: every method on every case, side by side, in Markdown, CSV and figures.

A case is a folder written by ``gdd simulate`` (or any ``case.json``; see :mod:`gdd.simulate`):
a task (``hs`` or ``pan``), the inputs, the factor, and a reference when one exists. Each
method's result is clipped to [0, 1] (the toolbox's thresholding) and scored with the
reduced-resolution indices against the reference, or with the full-resolution ones (D_lambda,
D_s, QNR, HQNR) when there is none. Rows are appended to ``rows.jsonl`` as they are done, so an
interrupted run resumes where it stopped (``--resume``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .baselines import HS_FUSION, METHOD_NAMES, PANSHARPENING
from .benchstate import as_cases, keep_settings
from .checks import layout_known
from .fusion import resolve_device
from .io import InputError, UsageError, atomic, from_tensor, read_image, read_matrix, to_tensor
from .metrics import full_resolution, psnr, reduced_resolution
from .metrics.tables import tables
from .operators import KernelDownsample, imresize
from .problems import PAN_SPATIAL, PRESETS, Problem, hs_problem, pan_problem, preset_for, solve
from .progress import ProgressBar
from .sensors import SENSORS, sensor_gnyq

__all__ = ["Case", "default_methods", "load_case", "method_names", "run_bench"]

#: Methods besides the registries': GDD with its defaults for the device (the task's preset: the
#: classic starts and the choices on held-out pixels), the authors' GDD (their settings and loss,
#: no classic start, the final estimate) at the same number of steps (all the default's starts
#: together), and the unguided ablation (a deep image prior: the same network and losses, the
#: guide replaced by zeros, no classic start).
OWN = {"gdd": "GDD", "gdd_authors": "GDD (authors)", "dip": "DIP (no guide)"}


@dataclass
class Case:
    """One benchmark case, loaded."""

    name: str
    task: str
    factor: int
    inputs: dict[str, Tensor]
    reference: Tensor | None
    srf: Tensor | None
    spatial: str
    protocol: dict[str, Any]


def method_names() -> dict[str, str]:
    """Every method ``gdd bench`` knows: key -> display name."""
    return {**OWN, **METHOD_NAMES}


def default_methods(task: str) -> list[str]:
    """GDD, EXP (bicubic) and the task's classic methods."""
    if task == "pan":
        return ["gdd", *PANSHARPENING]
    return ["gdd", "exp", *HS_FUSION]


def load_case(path: str | Path, *, name: str | None = None) -> Case:
    """Read a case folder (or its ``case.json``) and its files."""
    from .simulate import read_case

    info = read_case(path)
    task = info.get("task")
    if task not in ("hs", "pan"):
        raise InputError(f"{path}: case task must be 'hs' or 'pan', got {task!r}")
    factor = int(info.get("factor") or info.get("ratio") or 0)
    if factor < 1:
        raise InputError(f"{path}: the case gives no factor/ratio")
    files = info["inputs"]
    bits = info.get("bit_depth")
    keys = ("hsi", "guide") if task == "hs" else ("ms", "pan")
    missing = [k for k in keys if k not in files]
    if missing:
        raise InputError(f"{path}: the case has no {missing[0]!r} input")
    if task == "pan" and str(info.get("sensor", "none")) not in SENSORS:  # its fit and its scores use it
        raise InputError(f"{path}: unknown sensor {info['sensor']!r}; expected one of {', '.join(SENSORS)}")
    # Case arrays are H x W x C (gdd simulate writes them so); .mat pairs from papers too.
    inputs = {k: to_tensor(read_image(files[k], name=k, bit_depth=bits, layout="hwc")) for k in keys}
    srf = None
    if task == "hs":
        if "srf" not in files:
            raise InputError(f"{path}: an hs case needs an 'srf' input")
        srf = torch.from_numpy(read_matrix(files["srf"], name="srf")).float()
        if "kernel" in files:  # the blur that made the HSI (gdd simulate --sigma/--shift)
            inputs["kernel"] = torch.from_numpy(np.load(files["kernel"])).double()
    ref = info.get("reference")
    reference = to_tensor(read_image(ref, name="reference", bit_depth=bits, layout="hwc")) if ref else None
    folder = Path(path)
    label = name or info.get("name") or (folder.parent.name if folder.suffix == ".json" else folder.name)
    return Case(str(label), task, factor, inputs, reference, srf, str(info.get("spatial", "block")), info)


@layout_known()  # a case's files are H x W x C
def _problem(case: Case, *, spatial: str | None = None) -> Problem:
    """The case's problem; ``spatial`` fixes the pansharpening operator (default: the default's ``"auto"``)."""
    if case.task == "hs":
        hs_spatial: Any = case.spatial if case.spatial in ("block", "gaussian", "bicubic", "mtf") else "block"
        if "kernel" in case.inputs:
            hs_spatial = KernelDownsample(case.inputs["kernel"], case.factor)
        return hs_problem(case.inputs["hsi"], case.inputs["guide"], case.srf, case.factor, spatial=hs_spatial)  # type: ignore[arg-type]
    full = case.reference is None
    ms, pan = case.inputs["ms"], case.inputs["pan"]
    # The MTF gains of the sensor the case names (as --sensor); the operator is the default's choice.
    gains = (case.protocol.get("gnyq") or {}).get("ms")
    gnyq = (
        tuple(gains) if isinstance(gains, list) else sensor_gnyq(str(case.protocol.get("sensor", "none")), ms.shape[1])
    )
    return pan_problem(ms, pan, case.factor, full_resolution=full, spatial=spatial or PAN_SPATIAL, gnyq=gnyq)  # type: ignore[arg-type]


def grid(case: Case) -> str:
    """The upsampling grid of the classic pansharpening methods on a case: the one the case was made with.

    A case reduced by MATLAB's bicubic (the authors' ``pan_im4``; ``"grid": "bicubic"`` in its
    case.json, or any reduced-resolution case not simulated with an MTF) gets bicubic-phase
    upsampling; an MTF-simulated case and a full-resolution pair the toolbox's 23-tap one.
    """
    given = case.protocol.get("grid")
    if given in ("bicubic", "interp23tap"):
        return str(given)
    return "interp23tap" if case.spatial == "mtf" or case.reference is None else "bicubic"


def _check_method(case: Case, method: str) -> None:
    if method in OWN:
        return
    if case.task == "pan" and method not in PANSHARPENING:
        raise UsageError(f"{method!r} is not a pansharpening method; use one of {', '.join([*OWN, *PANSHARPENING])}")
    if case.task == "hs" and method != "exp" and method not in HS_FUSION:
        raise UsageError(f"{method!r} is not an HS fusion method; use one of {', '.join([*OWN, 'exp', *HS_FUSION])}")


def _run_method(
    case: Case,
    method: str,
    *,
    device: str,
    seed: int,
    iterations: int | None,
    budget: str | None = None,
    spatial: str | None = None,
    warm_start: int | None = None,
) -> tuple[Tensor, dict[str, Any]]:
    """The method's estimate (1, C, H, W) on the CPU and what to record about the run.

    ``warm_start``: the default GDD row's warm start instead of the preset's (a benchmark's variant).

    ``spatial``: the pansharpening operator of the GDD rows other than the default (the one the
    default chose on this case), so that every GDD row of a case uses the same operator.
    """
    _check_method(case, method)
    if method in OWN:
        problem = _problem(case, spatial=None if method == "gdd" else spatial or "bicubic")
        options: dict[str, Any] = {}
        info: dict[str, Any] = {}
        if method == "dip":
            problem = replace(problem, guide=torch.zeros_like(problem.guide), classic=None)
            options = {"init": "none", "keep_best": False, "more_starts": (), "holdout": 0.0}
        if method == "gdd_authors":
            # The authors' settings at the steps GDD's default takes at this budget, all its
            # starts together when a preset has more than one.
            chosen, preset = preset_for(case.task, resolve_device(device))  # type: ignore[arg-type]
            preset = PRESETS[(case.task, budget or chosen)]  # type: ignore[index]
            n = (iterations if iterations is not None else preset.iterations) * (1 + len(preset.more_starts))
            options = {"budget": "authors", "init": "none", "keep_best": False, "average_last": 0, "more_starts": (),
                       "holdout": 0.0}  # fmt: skip
            iterations = n
        elif budget is not None:
            options["budget"] = budget
        if method == "gdd" and warm_start is not None:
            options["warm_start"] = warm_start
        seen: dict[str, float] = {}
        observe = None
        if method == "gdd" and case.reference is not None:
            reference = case.reference

            def observe(name: str, x: Tensor) -> None:
                seen[name] = _psnr(case, x, reference)

        start = time.perf_counter()
        result = solve(problem, device=device, seed=seed, iterations=iterations, observe=observe, **options)
        info["fit_seconds"] = time.perf_counter() - start  # the row's time: not the judging below
        if result.choice:
            info["choice"] = result.choice
        if case.task == "pan":
            info["spatial"] = result.details.get("spatial")
        if "model_choice" in result.details:
            info["model_choice"] = result.details["model_choice"]
        if "start_rule" in result.details:
            info["start_rule"] = result.details["start_rule"]
        checked = result.details.get("degradations")
        if isinstance(checked, dict):
            info["degradations"] = {k: v for k, v in checked.items() if k != "srf"}
        info.update(
            {"iterations": result.config.iterations, "steps_run": result.steps, "device": result.config.device,
             "rollbacks": result.rollbacks}
        )  # fmt: skip
        x = result.x.detach().cpu()
        if seen and case.reference is not None:
            info.update(_hindsight(case, problem, result, x, seen))
        return x, info
    if method == "exp":
        # The plain upsampling row is MATLAB's bicubic on every case.
        lr = case.inputs["ms"] if case.task == "pan" else case.inputs["hsi"]
        return imresize(lr, scale=case.factor), {}
    if case.task == "pan":
        g = grid(case)
        return PANSHARPENING[method](case.inputs["ms"], case.inputs["pan"], ratio=case.factor, upsample=g), {"grid": g}
    spatial_hs: Any = "gaussian" if case.spatial in ("gaussian", "mtf") else "block"
    if "kernel" in case.inputs:
        spatial_hs = KernelDownsample(case.inputs["kernel"], case.factor)
    fn = HS_FUSION[method]
    return fn(case.inputs["hsi"], case.inputs["guide"], factor=case.factor, srf=case.srf, spatial=spatial_hs), {}


def _psnr(case: Case, x: Tensor, reference: Tensor) -> float:
    # reduced_resolution's PSNR (no border cut), without its costlier indices: every iterate is scored.
    return psnr(x.detach().float().cpu().clamp(0, 1), reference)


def _hindsight(case: Case, problem: Problem, result: Any, x: Tensor, seen: dict[str, float]) -> dict[str, Any]:
    """The default's oracle gap and how far it moved from its classic start, judged with the reference.

    The oracle is the best PSNR that any candidate or checked iterate of the run reached; the
    gap is how far the returned result is below it (how good a choice made without the reference
    was). Nothing here reaches the fit: it only reads what the run observed.
    """
    assert case.reference is not None
    mine = _psnr(case, x, case.reference)
    best = max(seen, key=lambda k: seen[k])
    out: dict[str, Any] = {
        "oracle": {
            "best_psnr": seen[best],
            "best": best,
            "gap_db": max(seen[best] - mine, 0.0),
            "candidates": len(seen),
        }
    }
    rule = result.details.get("start_rule") or {}
    init = rule.get("init") or result.details.get("preset", {}).get("init")
    if init and init != "none" and problem.classic is not None:
        model = result.details.get("model_choice", {}).get("chosen")
        start_problem = problem.alternatives[model]() if model in problem.alternatives else problem
        checked = result.details.get("degradations")
        if isinstance(checked, dict) and checked.get("chosen") == "estimated" and problem.check is not None:
            # The fit started from the classic image under the degradations estimated from the
            # pair, not the given ones: what the check gained is not the network's move. (The
            # check's answer is the one the fit got, kept by the problem: nothing is estimated again.)
            from .problems.solve import checked_problem

            start_problem = checked_problem(problem)[0]
        from .problems.classic import tame

        start = tame(start_problem.classic(init).float(), start_problem.baseline())  # type: ignore[misc]
        psnr = _psnr(case, start, case.reference)
        out["start"] = {"name": init, "psnr": psnr, "moved_db": mine - psnr}
    return out


def _score(case: Case, x: Tensor) -> dict[str, float | None]:
    x = x.float().clamp(0, 1)
    if case.reference is not None:
        return reduced_resolution(x, case.reference, ratio=case.factor)
    if case.task == "pan":  # with the MTF of the sensor the case names, as `gdd eval --sensor`
        sensor = str(case.protocol.get("sensor", "none"))
        return full_resolution(x, case.inputs["ms"], case.inputs["pan"], ratio=case.factor, sensor=sensor)
    return {}


def _figure(case: Case, results: dict[str, Tensor], path: Path) -> None:
    from .report import figure_images

    panels = {}
    low = "hsi" if case.task == "hs" else "ms"
    panels[f"input ({low})"] = from_tensor(case.inputs[low])
    for method, x in results.items():
        panels[method_names().get(method, method)] = from_tensor(x.float().clamp(0, 1))
    if case.reference is not None:
        panels["reference"] = from_tensor(case.reference)
    png = figure_images(panels)
    atomic(path, lambda t: t.write_bytes(png))


def run_bench(
    cases: Sequence[str],
    *,
    out: str | Path,
    methods: Sequence[str] | None = None,
    device: str = "auto",
    seed: int = 0,
    iterations: int | None = None,
    budget: str | None = None,
    resume: bool = False,
    force: bool = False,
    figures: bool = True,
    quiet: bool = False,
    srf: str | None = None,
    factor: int | None = None,
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run every method on every case; write ``bench.md``, ``bench.csv``, ``rows.jsonl``, ``run.json``, figures.

    ``budget`` (``"authors"`` or ``"cpu"``) sets GDD's preset on any device (default: the
    device's, the authors' settings on a GPU); the authors' GDD gets the same number of steps.

    A CASE that is not a case folder (a reference cube: a CAVE folder of band PNGs, an image
    file) is first simulated with ``srf`` and ``factor`` (block average; ``gdd simulate``'s
    defaults) into ``out/cases/NAME``.

    Raises:
        InputError: a case that cannot be read; ``out`` holding a run without ``resume``/``force``.
        UsageError: an unknown method.
    """
    folder = Path(out)
    state = folder / "rows.jsonl"
    if folder.exists() and not folder.is_dir():
        raise InputError(f"bench output {folder} is a file")
    if state.exists() and not (resume or force):
        raise InputError(f"{folder} holds a run; use --resume to go on with it or --force to start again")
    known = method_names()
    for m in methods or []:
        if m not in known:
            raise UsageError(f"unknown method {m!r}; known: {', '.join(known)}")
    loaded = [load_case(c) for c in as_cases(cases, folder, srf=srf, factor=factor)]
    for given, case in zip(cases, loaded):
        try:  # the pair's sizes, bands and response, before any method runs
            _problem(case, spatial="bicubic")
        except ValueError as exc:
            raise InputError(f"case {given}: {str(exc).splitlines()[0]}") from None
    names = [c.name for c in loaded]
    if len(set(names)) != len(names):
        raise InputError(f"two cases share a name ({', '.join(names)}); give them distinct folders")
    plan = [(c, m) for c in loaded for m in (methods or default_methods(c.task))]
    for case, method in plan:
        _check_method(case, method)
    if not state.exists() and not force:
        # Not a bench folder (no rows yet): files of the user's own there are not overwritten.
        ours = [folder / "bench.md", folder / "bench.csv", folder / "run.json"]
        ours += [folder / f"{c.name}.png" for c in loaded] if figures else []
        ours += [folder / c.name / f"{m}.npy" for c, m in plan]
        if there := next((f for f in ours if f.exists()), None):
            raise InputError(f"{there} exists and {folder} holds no bench run; use --force to overwrite it")
    done: list[dict[str, Any]] = []
    if resume and state.exists():
        lines = state.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                done.append(json.loads(line))
            except json.JSONDecodeError:
                # An interrupted write leaves at most a cut last line: that row runs again.
                if number != len(lines):
                    raise InputError(f"{state}: line {number} is not a result row; remove it or use --force") from None
        text = "".join(json.dumps(r) + "\n" for r in done)
        atomic(state, lambda t: t.write_text(text))
    elif state.exists():
        state.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    keep_settings(folder, resumed=bool(done), seed=seed, iterations=iterations, budget=budget, device=device)
    finished = {(r["case"], r["method"]) for r in done}
    bar = ProgressBar(len(plan), quiet=quiet, unit="run", initial=len(finished & {(c.name, m) for c, m in plan}))
    rows = list(done)
    try:
        for case, method in plan:
            if (case.name, method) in finished:
                continue
            bar.describe(f"{case.name}: {method}")
            start = time.perf_counter()
            chosen = next((r.get("spatial") for r in rows if r["case"] == case.name and r["method"] == "gdd"), None)
            x, info = _run_method(
                case, method, device=device, seed=seed, iterations=iterations, budget=budget, spatial=chosen
            )
            seconds = info.pop("fit_seconds", time.perf_counter() - start)
            metrics = _score(case, x)
            label = known.get(method, method)
            if method in ("gdd_authors", "dip") and case.task == "pan" and info.get("spatial") != chosen:
                label += f" ({info.get('spatial')})"  # not the operator of the default's row
            if method == "exp":
                label += " (bicubic)"
            if "grid" in info and info["grid"] != "interp23tap":
                label += f" ({info['grid']} grid)"
            row = {
                "case": case.name,
                "method": method,
                "label": label,
                "protocol": "reduced" if case.reference is not None else "full",
                "seconds": seconds,
                "metrics": metrics,
                **info,
            }
            rows.append(row)
            arr = from_tensor(x.float())
            (folder / case.name).mkdir(exist_ok=True)
            atomic(folder / case.name / f"{method}.npy", lambda t, a=arr: np.save(t, a))  # type: ignore[misc]
            with state.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            bar.update(1)
    finally:
        bar.close()
    # Each case's rows in the order of the methods asked for (resumed rows keep their place).
    order = {(c.name, m): i for i, (c, m) in enumerate(plan)}
    cases_seen = list(dict.fromkeys(r["case"] for r in rows))
    rows.sort(key=lambda r: (cases_seen.index(r["case"]), order.get((r["case"], r["method"]), len(order))))
    md, csv_text = tables(rows)
    atomic(folder / "bench.md", lambda t: t.write_text(md + "\n"))
    atomic(folder / "bench.csv", lambda t: t.write_text(csv_text))
    if figures:
        for case in loaded:
            saved = {m: folder / case.name / f"{m}.npy" for c, m in plan if c is case}
            results = {m: to_tensor(np.load(p)) for m, p in saved.items() if p.exists()}
            if results:
                try:
                    _figure(case, results, folder / f"{case.name}.png")
                except RuntimeError as exc:  # matplotlib missing: the tables still stand
                    echo(f"no figure for {case.name}: {exc}")
    echo(md)
    echo(f"wrote {folder / 'bench.md'}, {folder / 'bench.csv'}")
    return rows
