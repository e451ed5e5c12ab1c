"""The one-window plan: the whole scene in one fit, written as one file with its preview and reports."""

from __future__ import annotations

import platform
import time

import numpy as np
import torch

from .. import __version__
from ..io import (
    InputError,
    Raster,
    check_output,
    from_tensor,
    preview_bands,
    preview_georeference,
    read_raster,
    split_spec,
    to_tensor,
    write_image,
    write_json,
    write_preview,
)
from ..metrics import summary
from ..problems import Problem, solve
from ..problems.said import choice_line, fast_path, rule_line, steps_line
from ..progress import ProgressBar
from .degradations import build_problem, estimate, with_response
from .inputs import (
    check_free,
    check_output_type,
    check_pair,
    check_varies,
    crop_raster,
    intersection,
    load_reference,
    no_pixel_valid_in_both,
    nodata_value,
    output_meta,
    warn_of_inputs,
    windows_line,
)
from .settings import FuseSettings
from .summary import check_report_options, fusion_report

__all__ = ["run"]


def _problem(s: FuseSettings) -> tuple[Problem, dict[str, Raster]]:
    """The problem of the whole scene, and its input rasters by name (low resolution first, then the guide)."""
    lr_name, hr_name = s.inputs.names
    lr, hr = (read_raster(s.inputs.spec(n), name=n, **s.inputs.read_options()) for n in (lr_name, hr_name))
    windows = intersection(s, lr, lr.data.shape, hr, hr.data.shape)
    if windows is not None:
        print(windows_line(s, windows, lr.data.shape, hr.data.shape))
        lr, hr = crop_raster(lr, *windows[0]), crop_raster(hr, *windows[1])
    check_pair(s, lr.data.shape, hr.data.shape, lr, hr)
    s = with_response(s, lr.wavelengths, lr.data.shape[-1])  # a response by wavelength, on the HS bands
    for name, raster in ((lr_name, lr), (hr_name, hr)):
        check_varies(name, s.inputs.spec(name), raster)
    first, second = to_tensor(lr.data), to_tensor(hr.data)
    lr_mask = None if lr.mask is None else torch.from_numpy(lr.mask)
    hr_mask = None if hr.mask is None else torch.from_numpy(hr.mask)
    # The output options, before the estimation's work (the result: the guide's grid, the bands
    # of the low-resolution image).
    check_report_options(s.outputs.bands, s.outputs.pixels, (*second.shape[-2:], first.shape[1]))
    masked = any(m is not None and not bool(m.all()) for m in (lr_mask, hr_mask))
    check_output_type(
        s, masked=masked, nodata=nodata_value(s, (lr, hr)), meta=output_meta(s, lr, hr), bands=first.shape[1]
    )
    try:
        if s.inputs.reference and any(s.degradation.wants(s.task)):
            # Before the estimation's work: a reference of the wrong shape fails now.
            shape = torch.Size((1, first.shape[1], *second.shape[-2:]))
            load_reference(s.inputs.reference, shape, s.inputs.bit_depth, s.inputs.layout, lr.wavelengths)
        estimates = estimate(
            s, first, second, masked=lr_mask is not None or hr_mask is not None, wavelengths=lr.wavelengths,
            force=s.outputs.force,
        )  # fmt: skip
        problem = build_problem(s, first, second, lr_mask, hr_mask, estimates=estimates, whole=True)
        if estimates.details:
            problem.details["estimated"] = estimates.details
    except InputError:
        raise
    except ValueError as exc:
        # The problem knows the images by role; the user knows them by file.
        files = ", ".join(f"{n} {split_spec(s.inputs.spec(n))[0].name}" for n in (lr_name, hr_name))
        raise InputError(f"{files}: {exc}") from None
    return problem, {lr_name: lr, hr_name: hr}


def run(s: FuseSettings) -> int:
    """Fuse the whole scene in one fit and write the result, its preview, JSON and report."""
    o = s.outputs
    out = check_output(o.out, force=o.force)
    for beside in (o.preview, preview_georeference(o.preview)):
        check_free(beside, "preview", o.force)
    if o.report:  # its path is checked with the other outputs' (gdd.app.driver.check_written_files)
        from ..report import need_matplotlib

        need_matplotlib()
    problem, rasters = _problem(s)
    lr, hr = rasters.values()
    inputs = {n: r.data for n, r in rasters.items()}
    meta = output_meta(s, lr, hr)
    valid = None if problem.valid is None else problem.valid[0, 0].numpy()
    if valid is not None and not valid.any():
        raise no_pixel_valid_in_both(*(f"{n} {split_spec(s.inputs.spec(n))[0].name}" for n in s.inputs.names))
    nodata = nodata_value(s, (lr, hr))
    reference = None
    if s.inputs.reference and valid is not None:
        raise InputError("--reference cannot be used with nodata pixels: the indices would count them")
    if s.inputs.reference:
        shape = torch.Size((1, problem.out_channels, *problem.guide.shape[-2:]))
        reference = load_reference(s.inputs.reference, shape, s.inputs.bit_depth, s.inputs.layout, lr.wavelengths)

    progress = ProgressBar(s.fit.steps, quiet=o.quiet, reference=reference)
    start = time.perf_counter()
    try:
        result = solve(problem, callback=progress, **s.fit.solve_options())
    finally:
        progress.close()
    wall = time.perf_counter() - start
    x = result.x.detach().cpu()
    arr = from_tensor(x)
    write_image(out, arr, force=o.force, dtype=o.dtype, bit_depth=s.inputs.bit_depth, meta=meta, mask=valid,
                nodata=nodata, creation=o.creation, command=o.command)  # fmt: skip
    bands = preview_bands(arr.shape[-1], meta.wavelengths if meta is not None else None)
    write_preview(
        o.preview, np.clip(arr, 0, None) if valid is None else np.where(valid[..., None], arr, 0), bands=bands,
        meta=meta, stretch=s.task != "flash", mask=valid,  # a photograph keeps its colour balance
    )  # fmt: skip
    warn_of_inputs(s, lr, hr)

    n = result.config.iterations
    starts = result.choice.get("starts")
    fits = len(starts) if isinstance(starts, list) else 1
    device = torch.device(s.fit.device).type
    steps = steps_line(result.choice, result.steps, n)
    print(
        f"gdd {problem.task}: {steps} in {wall:.1f} s "
        f"({1000 * result.seconds_per_iteration:.1f} ms/step{fast_path(result.config)}) on {device}"
    )
    print(f"wrote {out} and {o.preview}")
    for line in (rule_line(result.details), choice_line(result.choice, result.details)):
        if line:
            print(line)
    record: dict[str, object] = {
        "task": problem.task,
        "output": str(out),
        "seconds": wall,
        "fit_seconds": result.seconds,
        "ms_per_iteration": 1000 * result.seconds_per_iteration,
        "iterations": n,
        "steps": result.steps,
        "fits": fits,
        "rollbacks": result.rollbacks,
        "choice": result.choice,
        "final_loss": float(result.loss[-1]) if n else None,
        "device": device,
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
        record["metrics"] = metrics
        record["psnr_history"] = progress.psnr
        print(f"{'':10s} {'PSNR':>8s} {'SAM':>8s} {'ERGAS':>8s}")
        for name, m in metrics.items():
            print(f"{name:10s} {m['psnr']:8.2f} {m['sam']:8.3f} {m['ergas']:8.3f}")
    if o.json:
        write_json(o.json, record)
        print(f"wrote {o.json}")
    if o.report:
        fusion_report(s, problem, inputs, arr, reference, result.history, progress.psnr, record, lr.wavelengths)
    return 0
