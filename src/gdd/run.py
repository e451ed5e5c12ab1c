"""Running a fusion command from files: read the inputs, set up, fit, write the result and reports.

``fuse(args)`` is ``gdd hs|pan|flash`` once the command line is parsed; :mod:`gdd.cli` owns the
options.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .fusion import resolve_device
from .io import (
    InputError,
    Layout,
    Raster,
    UsageError,
    check_output,
    from_tensor,
    read_image,
    read_matrix,
    read_raster,
    split_spec,
    to_tensor,
    write_image,
    write_json,
    write_preview,
)
from .metrics import summary
from .problems import PRESETS, Problem, classic_method, flash_problem, hs_problem, pan_problem, preset_for, solve
from .progress import ProgressBar
from .report import need_matplotlib
from .sensors import sensor_gnyq

__all__ = ["check_report_options", "fuse"]


def check_report_options(args: argparse.Namespace, shape: tuple[int, int, int]) -> None:
    """Fail before any work when the report's bands or pixels do not fit the result (H, W, C)."""
    h, w, c = shape
    if args.bands and max(args.bands) >= c:
        raise InputError(f"--bands {','.join(map(str, args.bands))}: the result has bands 0 to {c - 1}")
    for r, col in args.pixel or []:
        if r >= h or col >= w:
            raise InputError(f"--pixel {r},{col} is outside the {h} x {w} result")


def _preview_path(out: Path) -> Path:
    return out.with_name(out.stem + ".png")


def _load_reference(
    spec: str, shape: torch.Size, bit_depth: int | None = None, layout: Layout = "auto"
) -> torch.Tensor:
    ref = to_tensor(read_image(spec, name="reference", bit_depth=bit_depth, layout=layout))
    if ref.shape != shape:
        raise InputError(
            f"reference {spec}: {ref.shape[2]} x {ref.shape[3]} x {ref.shape[1]}, "
            f"the result {shape[2]} x {shape[3]} x {shape[1]}"
        )
    return ref


def _problem(args: argparse.Namespace) -> tuple[Problem, dict[str, Raster]]:
    """The problem, and its input rasters by name (low resolution first, then the guide)."""
    names = {"hs": ("hsi", "guide"), "pan": ("ms", "pan"), "flash": ("noisy", "guide")}[args.command]
    rasters = {
        n: read_raster(getattr(args, n), name=n, bit_depth=args.bit_depth, layout=args.layout, nodata=args.nodata)
        for n in names
    }
    (lr_name, lr), (hr_name, hr) = rasters.items()
    first, second = to_tensor(lr.data), to_tensor(hr.data)
    masks = {f"{n}_mask": torch.from_numpy(r.mask) for n, r in (("lr", lr), ("hr", hr)) if r.mask is not None}
    lr_mask, hr_mask = masks.get("lr_mask"), masks.get("hr_mask")
    try:
        problem = _setup(args, first, second, lr_mask, hr_mask)
    except InputError:
        raise
    except ValueError as exc:
        # The problem knows the images by role; the user knows them by file.
        files = ", ".join(f"{n} {split_spec(getattr(args, n))[0].name}" for n in (lr_name, hr_name))
        raise InputError(f"{files}: {exc}") from None
    if lr.crs and hr.crs and lr.crs != hr.crs:
        raise InputError(f"{lr_name} and {hr_name} are in different coordinate systems; reproject one first")
    return problem, rasters


def _setup(
    args: argparse.Namespace,
    first: torch.Tensor,
    second: torch.Tensor,
    lr_mask: torch.Tensor | None,
    hr_mask: torch.Tensor | None,
) -> Problem:
    if args.command == "hs":
        srf = torch.from_numpy(read_matrix(args.srf, name="srf"))
        return hs_problem(
            first,
            second,
            srf,
            args.factor,
            spatial=args.spatial,
            normalize_srf=not args.no_normalize_srf,
            hsi_mask=lr_mask,
            guide_mask=hr_mask,
        )
    if args.command == "pan":
        return pan_problem(
            first,
            second,
            args.ratio,
            full_resolution=args.full_resolution,
            ms_mask=lr_mask,
            pan_mask=hr_mask,
            spatial=args.spatial,
            gnyq=tuple(sensor_gnyq(args.sensor, first.shape[1])),
        )
    return flash_problem(first, second, noisy_mask=lr_mask, guide_mask=hr_mask)


def _output_meta(args: argparse.Namespace, problem: Problem, rasters: dict[str, Raster], out: Path) -> Raster:
    """What the result file carries: the guide's grid (or the low-res grid refined), the low-res bands' names."""
    lr, hr = rasters.values()
    unread = [n for n, r in rasters.items() if r.geotiff_unread]
    if unread and out.suffix.lower() in (".tif", ".tiff"):
        spec = split_spec(getattr(args, unread[0]))[0]
        raise InputError(
            f"{unread[0]} {spec}: a GeoTIFF; keeping its georeferencing needs rasterio: pip install 'gdd[geo]'"
        )
    transform = hr.transform
    if transform is None and lr.transform is not None:
        f = problem.factor
        a, b, c, d, e, g = lr.transform
        transform = (a / f, b / f, c, d / f, e / f, g)
    return Raster(
        data=np.empty((0, 0, 0), np.float32),
        crs=hr.crs or lr.crs,
        transform=transform,
        descriptions=lr.descriptions,
        wavelengths=lr.wavelengths,
    )


def _check_free(path: str | None, what: str, force: bool) -> None:
    if path and Path(path).exists() and not force:
        raise InputError(f"{what} {path} exists; use --force to overwrite it")


def fuse(args: argparse.Namespace) -> int:
    out = check_output(args.out, force=args.force)
    preview = _preview_path(out)
    if preview.exists() and not args.force:
        raise InputError(f"preview {preview} exists; use --force to overwrite it")
    _check_free(args.json, "json", args.force)
    if args.report:
        check_output(args.report, force=args.force, suffixes=(".html", ".htm"), what="report")
        need_matplotlib()
    problem, rasters = _problem(args)
    inputs = {n: r.data for n, r in rasters.items()}
    meta = _output_meta(args, problem, rasters, out)
    check_report_options(args, (*problem.guide.shape[-2:], problem.out_channels))
    valid = None if problem.valid is None else problem.valid[0, 0].numpy()
    nodata = (
        args.nodata
        if args.nodata is not None
        else next((r.nodata for r in rasters.values() if r.nodata is not None), None)
    )
    if args.dtype == "uint16":
        if args.bit_depth is not None and args.bit_depth > 16:
            raise InputError(f"a uint16 output holds at most 16 bits, not --bit-depth {args.bit_depth}")
        if valid is not None and (nodata is None or not (0 <= nodata <= 65535 and nodata == int(nodata))):
            raise InputError(
                f"a uint16 output with nodata pixels needs an integer --nodata in 0..65535 to mark them, got {nodata}"
            )
    reference = None
    if args.reference and valid is not None:
        raise InputError("--reference cannot be used with nodata pixels: the indices would count them")
    if args.reference:
        shape = torch.Size((1, problem.out_channels, *problem.guide.shape[-2:]))
        reference = _load_reference(args.reference, shape, args.bit_depth, args.layout)

    _check_init(args.init, problem.task)
    device = resolve_device(args.device)
    budget = args.budget or preset_for(problem.task, device)[0]
    total = args.iterations if args.iterations is not None else PRESETS[(problem.task, budget)].iterations
    progress = ProgressBar(total, quiet=args.quiet, reference=reference)
    start = time.perf_counter()
    try:
        result = solve(
            problem,
            device=str(device),
            seed=args.seed,
            budget=budget,
            iterations=args.iterations,
            width=args.width,
            callback=progress,
            **{
                k: v
                for k, v in (
                    ("average_last", args.average_last),
                    ("init", args.init),
                    ("keep_best", args.keep_best),
                    ("warm_start", args.warm_start),
                    ("residual", args.residual),
                )
                if v is not None
            },
        )
    finally:
        progress.close()
    wall = time.perf_counter() - start
    x = result.x.detach().cpu()
    arr = from_tensor(x)
    write_image(
        out, arr, force=args.force, dtype=args.dtype, bit_depth=args.bit_depth, meta=meta, mask=valid, nodata=nodata
    )
    write_preview(preview, np.clip(arr, 0, None) if valid is None else np.where(valid[..., None], arr, 0))

    n = result.config.iterations
    print(
        f"gdd {problem.task}: {n} iterations in {wall:.1f} s "
        f"({1000 * result.seconds_per_iteration:.1f} ms/iteration) on {device.type}"
    )
    print(f"wrote {out} and {preview}")
    line = _choice_line(result.choice, result.details)
    if line:
        print(line)
    report: dict[str, object] = {
        "task": problem.task,
        "output": str(out),
        "seconds": wall,
        "fit_seconds": result.seconds,
        "ms_per_iteration": 1000 * result.seconds_per_iteration,
        "iterations": n,
        "rollbacks": result.rollbacks,
        "choice": result.choice,
        "final_loss": float(result.loss[-1]) if n else None,
        "device": device.type,
        "settings": {**result.config.to_dict(), **result.details},
        "versions": {"gdd": __version__, "torch": torch.__version__, "python": platform.python_version()},
    }
    if reference is not None:
        ratio = max(problem.factor, 1)
        base = problem.baseline().detach().cpu()
        metrics = {
            "gdd": summary(x.clamp(0, 1), reference, ratio=ratio),
            "bicubic" if problem.task != "flash" else "input": summary(base.clamp(0, 1), reference, ratio=ratio),
        }
        report["metrics"] = metrics
        report["psnr_history"] = progress.psnr
        print(f"{'':10s} {'PSNR':>8s} {'SAM':>8s} {'ERGAS':>8s}")
        for name, m in metrics.items():
            print(f"{name:10s} {m['psnr']:8.2f} {m['sam']:8.3f} {m['ergas']:8.3f}")
    if args.json:
        write_json(Path(args.json), report)
        print(f"wrote {args.json}")
    if args.report:
        waves = next(iter(rasters.values())).wavelengths
        _fusion_report(args, problem, inputs, arr, reference, result.history, progress.psnr, report, waves)
    return 0


def _check_init(init: str | None, task: str) -> None:
    """Refuse an unknown --init before the fit starts."""
    if init is not None and init != "none":
        try:
            classic_method(task, init)
        except ValueError as exc:
            raise UsageError(f"--init {init}: {exc}") from None


def _choice_line(choice: dict[str, object], details: dict[str, object]) -> str:
    """How the result compares, on the data terms alone, with its classic method and the iterates."""
    if not choice:
        if details.get("task") == "flash":
            return (
                "result: the final estimate (no classic method to compare with: flash denoising stops early by design)"
            )
        return ""
    chosen = str(choice["chosen"])
    from .baselines import METHOD_NAMES

    key = str(choice.get("classic_name", "?"))
    try:
        key = classic_method(str(details.get("task")), key)
    except ValueError:
        pass
    name = METHOD_NAMES.get(key, key)
    role = {"residual": "classic start", "warm": "classic warm start", "warm+residual": "classic start"}.get(
        str(choice.get("start")), "classic fallback"
    )
    what = {"final": "the GDD estimate", "best": f"the GDD estimate of step {choice.get('best_step')}",
            "classic": f"the {role} ({name}) itself"}[chosen]  # fmt: skip
    text = f"result: {what}, data objective {float(choice[chosen]):.4g}"  # type: ignore[arg-type]
    if "classic" in choice:
        classic = float(choice["classic"])  # type: ignore[arg-type]
        gdd = min(float(choice[k]) for k in ("final", "best") if k in choice)  # type: ignore[arg-type]
        text += f"; {name} ({role}): {classic:.4g}"
        if chosen == "classic":
            text += f", which fits the observations better than any GDD iterate ({gdd:.4g})"
        elif gdd < classic / 1.01:
            text += f" (GDD fits the observations {classic / max(gdd, 1e-30):.2f}x better)"
        elif gdd <= classic:
            text += " (GDD fits the observations about as well: it changed the classic result little)"
        else:
            text += " (GDD fits the observations worse; --keep-best would return the classic result)"
    return text


def _fusion_report(
    args: argparse.Namespace,
    problem: Problem,
    inputs: dict[str, np.ndarray],
    arr: np.ndarray,
    reference: torch.Tensor | None,
    history: list[tuple[int, float]],
    psnr_history: list[tuple[int, float]],
    info: dict[str, object],
    wavelengths: tuple[float, ...] | None = None,
) -> None:
    """The HTML report of a fusion run: inputs, result, baseline, the indices and the curves."""
    from .metrics import full_resolution, reduced_resolution
    from .report import write_report

    base = problem.baseline().detach().cpu()
    base_name = "bicubic"
    if problem.task == "flash":
        # The flash baseline is the noisy input itself: shown once, as the baseline.
        base_name = "noisy input"
        inputs = {k: v for k, v in inputs.items() if k != "noisy"}
    x = to_tensor(arr)
    metrics: dict[str, dict[str, float | None]] = {}
    if reference is not None:
        for name, est in (("gdd", x), (base_name, base)):
            metrics[name] = reduced_resolution(est.clamp(0, 1), reference, ratio=max(problem.factor, 1))
    elif problem.task == "pan":
        ms, pan = to_tensor(inputs["ms"]), to_tensor(inputs["pan"])
        for name, est in (("gdd", x), (base_name, base)):
            try:
                metrics[name] = full_resolution(est, ms, pan, ratio=problem.factor)
            except ValueError:
                break
    settings = {k: v for k, v in info.items() if k in ("task", "iterations", "seconds", "device", "rollbacks")}
    if metrics and reference is None:
        settings["indices"] = "QNR protocol, sensor none (MTF gains 0.29 MS, 0.15 PAN); gdd eval --sensor for others"
    settings.update({k: v for k, v in dict(info.get("settings", {})).items()})  # type: ignore[call-overload]
    write_report(
        args.report,
        title=f"gdd {problem.task}: {Path(args.out).name}",
        inputs=inputs,
        result=arr,
        reference=from_tensor(reference) if reference is not None else None,
        baseline=from_tensor(base),
        baseline_name=base_name,
        metrics=metrics or None,
        history=history,
        psnr=psnr_history or None,
        settings=settings,
        factor=max(problem.factor, 1),
        wavelengths=wavelengths,
        bands=args.bands,
        pixels=args.pixel,
        percentiles=args.stretch,
        force=args.force,
    )
    print(f"wrote {args.report}")
