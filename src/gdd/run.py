"""Running a fusion command from files: read the inputs, set up, fit, write the result and reports.

``fuse(args)`` is ``gdd hs|pan|flash`` once the command line is parsed; :mod:`gdd.cli` owns the
options.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .estimate import (
    CONSISTENCY_THRESHOLD,
    block_kernel,
    estimate_degradation,
    estimate_pan_degradation,
    estimate_srf,
    pair_residual,
)
from .fusion import resolve_device
from .io import (
    InputError,
    Layout,
    Raster,
    UsageError,
    WindowReader,
    atomic,
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
from .operators import GaussianDownsample, KernelDownsample, LinearOperator, SpatialKind, make_spatial
from .problems import PRESETS, Problem, classic_method, flash_problem, hs_problem, pan_problem, preset_for, solve
from .progress import ProgressBar
from .report import need_matplotlib
from .sensors import sensor_gnyq
from .tiled import SHARED_MIXTURE, fast_settings, fuse_tiled, preset_overrides, tile_folder
from .tiling import available_memory, estimate_memory, largest_tile

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
    names = _NAMES[args.command]
    rasters = {
        n: read_raster(getattr(args, n), name=n, bit_depth=args.bit_depth, layout=args.layout, nodata=args.nodata)
        for n in names
    }
    (lr_name, lr), (hr_name, hr) = rasters.items()
    first, second = to_tensor(lr.data), to_tensor(hr.data)
    masks = {f"{n}_mask": torch.from_numpy(r.mask) for n, r in (("lr", lr), ("hr", hr)) if r.mask is not None}
    lr_mask, hr_mask = masks.get("lr_mask"), masks.get("hr_mask")
    try:
        _estimate_degradations(args, first, second, lr_mask is not None or hr_mask is not None, lr.wavelengths)
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
        srf, spatial, normalize = _hs_degradation(args)
        return hs_problem(
            first,
            second,
            srf,
            args.factor,
            spatial=spatial,
            normalize_srf=normalize,
            hsi_mask=lr_mask,
            guide_mask=hr_mask,
        )
    if args.command == "pan":
        estimated = args.spatial == "estimate"
        return pan_problem(
            first,
            second,
            args.ratio,
            full_resolution=args.full_resolution,
            ms_mask=lr_mask,
            pan_mask=hr_mask,
            spatial="mtf" if estimated else args.spatial,
            gnyq=(
                (_estimates(args)["gnyq"],) * first.shape[1]
                if estimated
                else tuple(sensor_gnyq(args.sensor, first.shape[1]))
            ),
            mixture=getattr(args, SHARED_MIXTURE, None),
        )
    return flash_problem(first, second, noisy_mask=lr_mask, guide_mask=hr_mask)


# --------------------------------------------------------------------------- estimated degradations

_ESTIMATES = "_gdd_estimates"


def _estimates(args: argparse.Namespace) -> dict[str, Any]:
    found = getattr(args, _ESTIMATES, None)
    if found is None:
        raise InputError("estimating the degradations needs the whole scene in one fit; give --tile none")
    return found


def _hs_wants(args: argparse.Namespace) -> tuple[bool, bool]:
    """Whether the response and the blur are to be estimated (checking how the options combine)."""
    srf, blur = args.srf == "estimate", args.blur == "estimate"
    if args.blur is not None and args.spatial is not None:
        raise UsageError(f"give --blur or --spatial, not both (--blur {args.blur}, --spatial {args.spatial})")
    if args.srf_support is not None and not srf:
        raise UsageError("--srf-support applies to --srf estimate only")
    return srf, blur


def _given_srf(args: argparse.Namespace, k: int, c: int) -> torch.Tensor:
    srf = torch.from_numpy(read_matrix(args.srf, name="srf")).double()
    if srf.shape != (k, c) and srf.shape == (c, k):
        srf = srf.T
    return srf


def _given_kernel(args: argparse.Namespace) -> torch.Tensor:
    kernel = torch.from_numpy(read_matrix(args.blur, name="blur")).double()
    KernelDownsample(kernel, args.factor)  # checks the size
    return kernel


def _hs_degradation(args: argparse.Namespace) -> tuple[torch.Tensor, SpatialKind | LinearOperator, bool]:
    """The response, the spatial degradation and whether to normalise the response, for hs_problem."""
    want_srf, want_blur = _hs_wants(args)
    est = _estimates(args) if want_srf or want_blur else {}
    srf = est["srf"] if want_srf else torch.from_numpy(read_matrix(args.srf, name="srf"))
    spatial: SpatialKind | LinearOperator = args.spatial or "block"
    if want_blur:
        spatial = KernelDownsample(est["kernel"], args.factor)
    elif args.blur is not None:
        spatial = KernelDownsample(_given_kernel(args), args.factor)
    # An estimated response maps the HS image's units to the guide's as they are: keep its scale.
    return srf, spatial, not (want_srf or args.no_normalize_srf)


def _estimate_paths(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Path]:
    out = Path(args.out)
    paths = {n: out.with_name(f"{out.stem}.{n}") for n in names}
    for p in paths.values():
        _check_free(str(p), "output", args.force)
    return paths


def _estimate_degradations(
    args: argparse.Namespace,
    first: torch.Tensor,
    second: torch.Tensor,
    masked: bool,
    wavelengths: tuple[float, ...] | None,
) -> None:
    """Estimate what --srf estimate, --blur estimate or pan --spatial estimate ask for, write it and report it."""
    if args.command == "hs":
        want_srf, want_blur = _hs_wants(args)
    elif args.command == "pan":
        want_srf, want_blur = False, args.spatial == "estimate"
    else:
        return
    if not (want_srf or want_blur):
        return
    if masked:
        raise InputError("estimating the degradations cannot leave nodata pixels out; crop them away first")
    if args.reference:
        shape = torch.Size((1, first.shape[1], *second.shape[-2:]))
        _load_reference(args.reference, shape, args.bit_depth, args.layout)
    if args.command == "pan":
        _estimate_pan(args, first, second)
        return
    k, c = second.shape[1], first.shape[1]
    support = None
    if args.srf_support is not None:
        if len(args.srf_support) != k:
            raise InputError(f"--srf-support gives {len(args.srf_support)} ranges for a guide of {k} bands")
        if max(hi for _, hi in args.srf_support) >= c:
            raise InputError(f"--srf-support: the HS image has bands 0 to {c - 1}")
        support = torch.zeros(k, c, dtype=torch.bool)
        for i, (lo, hi) in enumerate(args.srf_support):
            support[i, lo : hi + 1] = True
    names = ("srf.csv",) * want_srf + ("kernel.npy", "kernel.png") * want_blur + ("estimates.png",)
    paths = _estimate_paths(args, names)
    given_srf = None
    if not want_srf:
        given_srf = _given_srf(args, k, c)
        if not args.no_normalize_srf:
            given_srf = given_srf / given_srf.sum(1, keepdim=True)
    kernel = None
    if not want_blur:
        spatial = args.spatial or "block"
        if args.blur is not None:
            kernel = _given_kernel(args)
        elif spatial in ("block", "gaussian"):
            kernel = _KERNELS[spatial](args.factor)
    if kernel is None and not want_blur:
        # A spatial model without a kernel form (bicubic, mtf): the response alone.
        op = make_spatial(args.spatial, args.factor)
        srf = estimate_srf(first, second, args.factor, spatial=op, support=support)
        residual, bands = pair_residual(first, second, srf, op)
        offset = None
    else:
        d = estimate_degradation(first, second, args.factor, srf=given_srf, kernel=kernel, support=support)
        srf, kernel, residual, bands, offset = d.srf, d.kernel, d.residual, d.band_residuals, d.offset
    setattr(args, _ESTIMATES, {"srf": srf.float(), "kernel": None if kernel is None else kernel.float()})

    if want_srf:
        _write_srf_csv(paths["srf.csv"], srf.double().numpy(), wavelengths)
    if want_blur and kernel is not None:
        kern = kernel.double().numpy()
        atomic(paths["kernel.npy"], lambda t: np.save(t, kern))
        write_preview(paths["kernel.png"], np.kron(kern / kern.max(), np.ones((8, 8)))[..., None])
    written = [str(p) for n, p in paths.items() if n != "estimates.png"]
    if _has_matplotlib():
        from .report import figure_estimates

        png = figure_estimates(
            srf.double().numpy(), None if kernel is None else kernel.double().numpy(), factor=args.factor,
            wavelengths=wavelengths, residual=residual,
        )  # fmt: skip
        atomic(paths["estimates.png"], lambda t: t.write_bytes(png))
        written.append(str(paths["estimates.png"]))
    what = []
    if want_srf:
        what.append(f"response {k} x {c}")
    if want_blur and kernel is not None and offset is not None:
        what.append(f"blur {kernel.shape[0]} x {kernel.shape[1]} with offset ({offset[0]:+.2f}, {offset[1]:+.2f}) px")
    print(f"estimated {' and '.join(what)}: {_residual_text(residual, bands)}; wrote {', '.join(written)}")
    _warn_inconsistent(residual, bands)


_KERNELS = {
    "block": lambda f: block_kernel(f),
    "gaussian": lambda f: torch.outer(GaussianDownsample(f).kernel1d.double(), GaussianDownsample(f).kernel1d.double()),
}


def _residual_text(residual: float, bands: tuple[float, ...]) -> str:
    per = ", ".join(f"{b:.1%}" for b in bands)
    return f"the pair's residual {residual:.1%} (unexplained share of the degraded guide; per band {per})"


def _warn_inconsistent(residual: float, bands: tuple[float, ...]) -> None:
    if residual >= CONSISTENCY_THRESHOLD:
        print(
            f"gdd: warning: the pair does not look consistent: the estimated degradations leave {residual:.0%} of "
            "the degraded guide unexplained; check that both images show the same scene, registered, and the "
            "factor; the fusion will be poor",
            file=sys.stderr,
        )


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _write_srf_csv(path: Path, srf: np.ndarray, wavelengths: tuple[float, ...] | None) -> None:
    """The response as gdd hs --srf reads it: one row per HS band, a wavelength column when known."""
    k, c = srf.shape
    header = ",".join(f"guide_band_{i + 1}" for i in range(k))
    body = srf.T
    if wavelengths is not None and len(wavelengths) == c:
        header = "wavelength_nm," + header
        body = np.column_stack([np.asarray(wavelengths, dtype=np.float64), body])
    atomic(path, lambda t: np.savetxt(t, body, delimiter=",", fmt="%.8g", header=header, comments=""))


def _estimate_pan(args: argparse.Namespace, ms: torch.Tensor, pan: torch.Tensor) -> None:
    paths = _estimate_paths(args, ("pan-weights.csv",))
    d = estimate_pan_degradation(ms, pan, args.ratio)
    setattr(args, _ESTIMATES, {"gnyq": d.gnyq})
    lines = ["# PAN = sum_b weight_b MS_b + intercept; MS MTF gain at Nyquist gnyq (gdd pan --spatial estimate)"]
    lines += ["band,weight", *(f"{i + 1},{w:.8g}" for i, w in enumerate(d.weights.tolist()))]
    lines += [f"intercept,{d.intercept:.8g}", f"gnyq,{d.gnyq:.6g}", f"residual,{d.residual:.6g}"]
    text = "\n".join(lines) + "\n"
    atomic(paths["pan-weights.csv"], lambda t: t.write_text(text))
    weights = ", ".join(f"{w:.3f}" for w in d.weights.tolist())
    print(
        f"estimated MS MTF gain {d.gnyq:.3f} and PAN weights {weights} (+ {d.intercept:.3g}): "
        f"{_residual_text(d.residual, (d.residual,))}; wrote {paths['pan-weights.csv']}"
    )
    _warn_inconsistent(d.residual, (d.residual,))


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


_NAMES = {"hs": ("hsi", "guide"), "pan": ("ms", "pan"), "flash": ("noisy", "guide")}


def _tiling(args: argparse.Namespace) -> tuple[int, int] | None:
    """(tile, overlap) when the scene is to be fused in tiles, None for one fit.

    ``--tile auto`` fuses in one piece what fits in the device's free memory and otherwise
    takes the largest tile that does; ``--tile none`` (or a size at least the scene's) is one
    fit, refused with a proposed tile size when it would not fit.
    """
    hr_name = _NAMES[args.command][1]
    plan = tile_folder(args.out) / "plan.json"
    if args.tile == "auto" and plan.exists():
        # An interrupted tiled run: go on with its tiles, whatever the free memory is now.
        with contextlib.suppress(ValueError, KeyError, TypeError):
            stored = json.loads(plan.read_text())
            return int(stored["tile"]), int(stored["overlap"])
    factor = int(getattr(args, "factor", None) or getattr(args, "ratio", None) or 1)
    shape = WindowReader(
        getattr(args, hr_name), name=hr_name, bit_depth=args.bit_depth, layout=args.layout, nodata=args.nodata
    ).shape
    h, w = shape[:2]
    device = resolve_device(args.device)
    budget = args.budget or preset_for(args.command, device)[0]
    free = available_memory(str(device))
    need = estimate_memory(args.command, h, w, budget=budget, channels=args.width)
    tile: int | None = None if args.tile in ("auto", "none") else int(args.tile)
    fits = free is None or need <= 0.8 * free
    if tile is None or tile >= max(h, w):
        if fits:
            return None
        proposal = largest_tile(args.command, 0.8 * free, budget=budget, channels=args.width, factor=factor)  # type: ignore[operator]
        if args.tile != "auto":
            gib = 2**30
            raise InputError(
                f"one fit of {h} x {w} pixels needs about {need / gib:.1f} GiB but {free / gib:.1f} GiB are free "  # type: ignore[operator]
                f"on {device.type}; fuse it in tiles: --tile {proposal}"
            )
        tile = proposal
        print(f"gdd: {h} x {w} pixels do not fit in one fit on {device.type}; fusing in tiles of {tile}")
    elif free is not None:
        need_tile = estimate_memory(args.command, tile, tile, budget=budget, channels=args.width)
        if need_tile > 0.8 * free:
            proposal = largest_tile(args.command, 0.8 * free, budget=budget, channels=args.width, factor=factor)
            raise InputError(
                f"--tile {tile} needs about {need_tile / 2**30:.1f} GiB but {free / 2**30:.1f} GiB are free on "
                f"{device.type}; use --tile {proposal} or less"
            )
    if args.overlap == "auto":
        overlap = max(factor, tile // 8 // factor * factor)
    else:
        overlap = int(args.overlap)
    return tile, overlap


#: Files a run may write beside its result before the fit (the estimated degradations).
_BESIDE = ("srf.csv", "kernel.npy", "kernel.png", "estimates.png", "pan-weights.csv")


def fuse(args: argparse.Namespace) -> int:
    out = check_output(args.out, force=args.force)  # before reading anything
    beside = [out.with_name(f"{out.stem}.{n}") for n in _BESIDE]
    before = {p for p in beside if p.exists()}
    try:
        return _fuse(args, [p for p in beside if p not in before])
    except BaseException:
        # A run that fails leaves nothing of its own behind (the tiles of a tiled run are kept:
        # they are how it resumes).
        for p in beside:
            if p not in before:
                p.unlink(missing_ok=True)
        raise


def _fuse(args: argparse.Namespace, fresh: list[Path]) -> int:
    _check_init(args.init, args.command)
    tiling = _tiling(args)
    names = _NAMES[args.command]
    if tiling is not None:
        return _fuse_tiles(args, *tiling)
    try:
        return _fuse_whole(args)
    except torch.OutOfMemoryError:
        if args.tile != "auto":
            raise
        # The estimate was too hopeful: fuse in tiles of half the scene's side (each split again
        # if it still does not fit).
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        for p in fresh:  # estimated again for the tiles
            p.unlink(missing_ok=True)
        factor = int(getattr(args, "factor", None) or getattr(args, "ratio", None) or 1)
        h, w = WindowReader(getattr(args, names[1]), name=names[1], layout=args.layout).shape[:2]
        tile = max(factor, max(h, w) // 2 // factor * factor)
        overlap = max(factor, tile // 8 // factor * factor) if args.overlap == "auto" else int(args.overlap)
        print(f"gdd: one fit of {h} x {w} pixels ran out of memory; fusing in tiles of {tile}", file=sys.stderr)
        return _fuse_tiles(args, tile, overlap)


def _fuse_tiles(args: argparse.Namespace, tile: int, overlap: int) -> int:
    return fuse_tiled(
        args,
        tile=tile,
        overlap=overlap,
        setup=_setup,
        output_meta=_output_meta,
        names=_NAMES[args.command],
        prepare=_estimate_degradations,
        fast=fast_settings(args) or None,
    )


def _fuse_whole(args: argparse.Namespace) -> int:
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

    device = resolve_device(args.device)
    budget = args.budget or preset_for(problem.task, device)[0]
    preset = replace(PRESETS[(problem.task, budget)], **preset_overrides(args))
    total = (args.iterations if args.iterations is not None else preset.iterations) * (1 + len(preset.more_starts))
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
            fast=fast_settings(args) or None,
            **preset_overrides(args),
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
    starts = result.choice.get("starts")
    fits = len(starts) if isinstance(starts, list) else 1
    print(
        f"gdd {problem.task}: {f'{fits} fits of ' if fits > 1 else ''}{n} iterations in {wall:.1f} s "
        f"({1000 * result.seconds_per_iteration:.1f} ms/iteration) on {device.type}"
    )
    print(f"wrote {out} and {preview}")
    rule = _rule_line(result.details)
    if rule:
        print(rule)
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
        "fits": fits,
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
    if init == "auto" and task != "pan":
        raise UsageError(f"--init auto: only pansharpening chooses its start from the pair; name a method for {task}")
    if init is not None and init not in ("none", "auto"):
        try:
            classic_method(task, init)
        except ValueError as exc:
            raise UsageError(f"--init {init}: {exc}") from None


def _method_name(task: str, key: str) -> str:
    """The display name of a classic method given by its key (``gsa`` is GSA-HS for hs)."""
    from .baselines import METHOD_NAMES

    try:
        key = classic_method(task, key)
    except ValueError:
        pass
    return METHOD_NAMES.get(key, key)


def _start_name(task: str, choice: dict[str, object]) -> str:
    """One start of an ensemble in words, e.g. ``SFIM, warm+residual``."""
    start = str(choice.get("start", "none"))
    if start == "none":
        return "the authors' start"
    return f"{_method_name(task, str(choice.get('classic_name', '?')))} {start}"


def _rule_line(details: dict[str, object]) -> str:
    """How ``--init auto`` chose the start, in one line (empty when it did not run)."""
    rule = details.get("start_rule")
    if not isinstance(rule, dict):
        return ""
    start = f"{_method_name('pan', str(rule['init']))}, {'as a residual' if rule['residual'] else 'warm start'}"
    how = "at least" if float(rule["pan_r2"]) >= float(rule["threshold"]) else "below"
    return (
        f"start: {start} (a linear mixture of the MS bands explains {float(rule['pan_r2']):.2%} of the "
        f"reduced PAN, {how} {float(rule['threshold']):.0%})"
    )


def _choice_line(choice: dict[str, object], details: dict[str, object]) -> str:
    """How the result compares, on the data terms alone, with its classic method and the iterates."""
    if not choice:
        if details.get("task") == "flash":
            return (
                "result: the final estimate (no classic method to compare with: flash denoising stops early by design)"
            )
        return ""
    chosen = str(choice["chosen"])
    task = str(details.get("task"))
    name = _method_name(task, str(choice.get("classic_name", "?")))
    role = {"residual": "classic start", "warm": "classic warm start", "warm+residual": "classic start"}.get(
        str(choice.get("start")), "classic fallback"
    )
    starts = choice.get("starts")
    mean = ""
    if isinstance(starts, list):
        names = ", ".join(_start_name(str(task), c) for c in starts)
        mean = f"the mean of {len(starts)} GDD fits (from {names})"
    what = {"final": "the GDD estimate", "best": f"the GDD estimate of step {choice.get('best_step')}",
            "classic": f"the {role} ({name}) itself", "mean": mean}[chosen]  # fmt: skip
    text = f"result: {what}, data objective {float(choice[chosen]):.4g}"  # type: ignore[arg-type]
    if "classic" in choice:
        classic = float(choice["classic"])  # type: ignore[arg-type]
        gdd = min(float(choice[k]) for k in ("final", "best", "mean") if k in choice)  # type: ignore[arg-type]
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
