"""The checks of a run's inputs and outputs, made once for either plan (one fit or tiles)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..checks import band_mismatch, grid_mismatch, sizes_at_factor
from ..io import InputError, Layout, NotFiniteError, Raster, refuse_constant, scale_warning, split_spec, to_tensor
from ..io.read import read_raster
from .settings import FuseSettings

__all__ = [
    "check_free",
    "check_output_type",
    "check_pair",
    "check_varies",
    "crop_raster",
    "intersection",
    "load_reference",
    "no_pixel_valid_in_both",
    "nodata_value",
    "output_meta",
    "same_crs",
    "tile_and_overlap",
    "warn_of_inputs",
    "warn_of_scale",
    "windows_line",
]


def check_free(path: str | Path | None, what: str, force: bool) -> None:
    """Refuse to overwrite an existing file the run would write, unless ``force``; never a folder."""
    if path and Path(path).is_dir():
        raise InputError(f"{what} {path} is a folder")
    if path and Path(path).exists() and not force:
        raise InputError(f"{what} {path} exists; use --force to overwrite it")


def check_varies(name: str, spec: str, raster: Raster) -> None:
    """Refuse an input whose every valid pixel has one value in every band: it carries nothing to fuse."""
    refuse_constant(f"{name} {split_spec(spec)[0].name}", raster.data, raster.mask)


def warn_of_inputs(s: FuseSettings, lr: Raster, hr: Raster, peaks: tuple[float, float] | None = None) -> None:
    """Warn of what the user of a result should know of its inputs: their scale, georeferencing it lacks.

    Said once the result is written, so that a bad input's error stays one line. ``peaks``: the
    largest magnitude of each input's values where the rasters hold no pixels (a tiled run's).
    """
    for name, raster, peak in zip(s.inputs.names, (lr, hr), peaks or (None, None)):
        warn_of_scale(name, s.inputs.spec(name), raster, s.inputs.bit_depth, peak=peak)
    warn_of_dropped_georeferencing(s, lr, hr)


def warn_of_scale(
    name: str, spec: str, raster: Raster, bit_depth: int | None = None, *, peak: float | None = None
) -> None:
    """Warn of an input read far from [0, 1], where the fit (its noise, rate and guards) does markedly worse.

    As :func:`gdd.io.scale_warning` says. ``peak``: the largest magnitude of the valid values
    where ``raster`` holds none.
    """
    if peak is None:
        values = raster.data if raster.mask is None else raster.data[raster.mask]
        peak = float(np.abs(values).max()) if values.size else 0.0
    text = scale_warning(peak, raster.scale, bit_depth)
    if text:
        print(f"gdd: warning: {name} {split_spec(spec)[0].name}: {text}", file=sys.stderr)


def no_pixel_valid_in_both(first: str, second: str) -> InputError:
    """The error of a pair whose nodata pixels leave none with data in both (each named as given)."""
    return InputError(
        f"{first} and {second}: no pixel is valid in both (their nodata pixels cover the whole scene between them)"
    )


#: How the problems name the low-resolution input in their errors.
_LOW = {"hs": "the HS image", "pan": "the MS image"}


def _layout_hint(s: FuseSettings, lr: Raster, hr: Raster) -> str:
    """Where ``--layout auto`` guessed an array's axis order and the other ``--layout`` makes a pair: say so.

    ``--layout`` applies to both inputs: the pair must fit with every guessed one read that way.
    """

    def size(r: Raster, layout: str) -> tuple[int, int]:
        h, w, c = r.data.shape
        if r.guessed is None or r.guessed == layout:
            return h, w
        return (c, h) if r.guessed == "chw" else (w, c)  # the stored array read the other way

    factor = 1 if s.task == "flash" else s.inputs.factor
    for layout in ("hwc", "chw"):
        turned = [(n, r) for n, r in zip(s.inputs.names, (lr, hr), strict=True) if r.guessed not in (None, layout)]
        (lh, lw), hr_size = size(lr, layout), size(hr, layout)
        if turned and (lh * factor, lw * factor) == hr_size:
            name, r = turned[0]
            h, w, c = r.data.shape
            stored = " x ".join(map(str, (c, h, w) if r.guessed == "chw" else (h, w, c)))
            order = "bands first" if r.guessed == "chw" else "bands last"
            sh, sw = size(r, layout)
            return (
                f"; {name} {split_spec(s.inputs.spec(name))[0].name}, a {stored} array, was read {order}: "
                f"--layout {layout} reads it as {sh} x {sw} pixels, which makes a pair"
            )
    return ""


def check_pair(s: FuseSettings, lr_shape: tuple[int, ...], hr_shape: tuple[int, ...], lr: Raster, hr: Raster) -> None:
    """The two inputs make a pair: the guide ``factor`` times the low-resolution image, one coordinate system."""
    lr_name, hr_name = s.inputs.names
    files = ", ".join(f"{n} {split_spec(s.inputs.spec(n))[0].name}" for n in (lr_name, hr_name))
    (h, w), (lh, lw) = hr_shape[:2], lr_shape[:2]
    try:
        if s.task == "flash":
            if (lh, lw) != (h, w):
                raise ValueError(
                    f"the no-flash image is {lh} x {lw} but the flash image {h} x {w}: they must be the same size"
                )
        else:
            sizes_at_factor((lh, lw), (h, w), s.inputs.factor, _LOW[s.task])
    except ValueError as exc:
        hint = "; --extent intersection fuses the area both cover" if lr.transform and hr.transform else ""
        if hint and s.task != "flash":
            said = float(np.hypot(*lr.transform[:2]) / np.hypot(*hr.transform[:2]))  # type: ignore[index]
            if abs(said - round(said)) < 0.01 and round(said) not in (s.inputs.factor, 0):
                hint = f"; their grids' pixel sizes make the ratio {round(said)}, not {s.inputs.factor}"
        raise InputError(f"{files}: {exc}{hint or _layout_hint(s, lr, hr)}") from None
    out = s.outputs.out
    if out.suffix.lower() in (".png", ".jpg", ".jpeg") and len(lr_shape) > 2 and lr_shape[2] not in (1, 3):
        raise InputError(
            f"output {out}: a {out.suffix.lstrip('.').upper()} holds one or three bands, the result will have "
            f"{lr_shape[2]}; use .tif, .hdr, .npy or .mat"
        )
    if lr.crs and hr.crs and not same_crs(lr.crs, hr.crs):
        raise InputError(f"{files}: in different coordinate systems; reproject one first")
    if lr.transform and hr.transform:
        factor = 1 if s.task == "flash" else s.inputs.factor
        problem = grid_mismatch(lr.transform, hr.transform, factor, size=(int(lr_shape[0]), int(lr_shape[1])))
        if problem:
            north_up = not any(v for t in (lr.transform, hr.transform) for v in (t[1], t[3]))
            whole = north_up and all(  # the origins whole guide pixels apart: --extent intersection can cut
                abs(v - round(v)) < 0.1 for v in ((lr.transform[2] - hr.transform[2]) / hr.transform[0],
                                                  (lr.transform[5] - hr.transform[5]) / hr.transform[4])
            )  # fmt: skip
            hint = " (or --extent intersection)" if "origin" in problem and whole else ""
            raise InputError(
                f"{files}: not on one grid: {lr_name}'s{problem.removeprefix('its')}; resample one onto the other's "
                f"grid{hint}"
            )


def crop_raster(r: Raster, rows: slice, cols: slice) -> Raster:
    """The window ``[rows, cols]`` of a raster, its georeferencing moved with it."""
    from ..io.windows import shifted

    return replace(
        r,
        data=np.ascontiguousarray(r.data[rows, cols]),
        mask=None if r.mask is None else np.ascontiguousarray(r.mask[rows, cols]),
        transform=None if r.transform is None else shifted(r.transform, rows.start, cols.start),
    )


Windows = tuple[tuple[slice, slice], tuple[slice, slice]]


def intersection(
    s: FuseSettings, lr: Raster, lr_shape: tuple[int, ...], hr: Raster, hr_shape: tuple[int, ...]
) -> Windows | None:
    """With ``--extent intersection``: the windows of the low-resolution image and the guide over the area both cover.

    The low-resolution grid must be the guide's coarsened by the factor, shifted by whole guide
    pixels; the windows are whole low-resolution pixels. None with ``--extent same``.

    Raises:
        InputError: inputs without georeferencing, in two coordinate systems, on grids that do
            not meet at whole pixels (rotated, other pixel sizes, a fractional offset), or apart.
    """
    if s.inputs.extent != "intersection":
        return None
    lr_name, hr_name = s.inputs.names
    if not (lr.transform and hr.transform):
        missing = lr_name if not lr.transform else hr_name
        raise InputError(f"--extent intersection needs georeferenced inputs; {missing} has no map transform")
    if lr.crs and hr.crs and not same_crs(lr.crs, hr.crs):
        raise InputError(f"{lr_name} and {hr_name} are in different coordinate systems; reproject one first")
    factor = 1 if s.task == "flash" else s.inputs.factor
    _, b, c, d, _, f = lr.transform[:6]
    ha, hb, hc, hd, he, hf = hr.transform[:6]
    if b or d or hb or hd:
        raise InputError("--extent intersection: rotated grids are not supported; resample one onto the other's grid")
    problem = grid_mismatch(lr.transform, (ha, 0.0, c, 0.0, he, f), factor, size=(int(lr_shape[0]), int(lr_shape[1])))
    if problem:
        raise InputError(f"--extent intersection: {lr_name} and {hr_name} are not on one grid: {problem}")
    cols, rows = (c - hc) / ha, (f - hf) / he  # the low-resolution origin, in guide pixels
    if abs(cols - round(cols)) > 0.1 or abs(rows - round(rows)) > 0.1:
        raise InputError(
            f"--extent intersection: {lr_name}'s grid is a fraction of a pixel off {hr_name}'s "
            f"({cols:.2f} columns, {rows:.2f} rows); resample one onto the other's grid"
        )
    ox, oy = round(cols), round(rows)

    def span(origin: int, low: int, high: int) -> tuple[int, int]:
        # Low-resolution pixel j covers guide pixels origin + j * factor up to origin + (j + 1) * factor.
        return max(0, -(origin // factor)), min(low, (high - origin) // factor)

    (j0, j1), (i0, i1) = span(ox, lr_shape[1], hr_shape[1]), span(oy, lr_shape[0], hr_shape[0])
    if j1 <= j0 or i1 <= i0:
        raise InputError(f"--extent intersection: {lr_name} and {hr_name} do not overlap")
    lr_win = (slice(i0, i1), slice(j0, j1))
    hr_win = (slice(oy + i0 * factor, oy + i1 * factor), slice(ox + j0 * factor, ox + j1 * factor))
    return lr_win, hr_win


def windows_line(s: FuseSettings, windows: Windows, lr_shape: tuple[int, ...], hr_shape: tuple[int, ...]) -> str:
    """What ``--extent intersection`` kept of each input, as one line."""
    parts = []
    for name, (rows, cols), shape in zip(s.inputs.names, windows, (lr_shape, hr_shape)):
        where = f"rows {rows.start}-{rows.stop - 1}, columns {cols.start}-{cols.stop - 1}"
        parts.append(f"{name} {where} of {shape[0]} x {shape[1]}")
    return "fusing the area both cover: " + "; ".join(parts)


def same_crs(a: str, b: str) -> bool:
    """Whether two coordinate systems (WKT) are the same one, compared as CRS (not as text) where rasterio is."""
    if a == b:
        return True
    try:
        from rasterio.crs import CRS
    except ImportError:
        return False
    try:
        return bool(CRS.from_user_input(a) == CRS.from_user_input(b))
    except Exception:
        return False


def same_grid(fine: tuple[str, Raster], coarse: tuple[str, Raster], factor: int) -> None:
    """``gdd eval``: files compared pixel for pixel are on one grid where georeferenced (``coarse`` by ``factor``)."""
    (a_name, a), (b_name, b) = fine, coarse
    if a.crs and b.crs and not same_crs(a.crs, b.crs):
        raise InputError(f"{a_name} and {b_name} are in different coordinate systems; gdd eval compares pixels")
    problem = a.transform and b.transform and grid_mismatch(b.transform, a.transform, factor, size=b.data.shape[:2])
    if problem:
        raise InputError(
            f"{a_name} and {b_name} are not on one grid: the {b_name.split()[0]}'s{problem.removeprefix('its')}; gdd "
            "eval compares pixel for pixel: crop both to "
            "one area (a result of --extent intersection covers only what both inputs did)"
        )


def nodata_value(s: FuseSettings, metas: tuple[Raster, Raster]) -> float | None:
    """The value that marks nodata in the output: the one given, else the first the inputs declare."""
    if s.inputs.nodata is not None:
        return s.inputs.nodata
    return next((m.nodata for m in metas if m.nodata is not None), None)


def check_output_type(
    s: FuseSettings, *, masked: bool, nodata: float | None, meta: Raster | None = None, bands: int = 1
) -> None:
    """Before the fit: the output type can hold the result and mark its nodata pixels, and GDAL takes ``--co``.

    uint16 holds at most 16 bits; ``input`` needs to know the input's type (``meta``); an integer
    type marks nodata pixels with an integer it can hold. ``--co`` is tried on a small file of the
    result's type and ``bands``.
    """
    from ..io.cog import check_creation_options
    from ..io.write import storage, stored_nodata

    o = s.outputs
    if o.creation and o.out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"--co sets GDAL creation options of a .tif output, not of {o.out.name}")
    bits = s.inputs.bit_depth
    picture = o.out.suffix.lower() in (".png", ".jpg", ".jpeg")
    stored = None if meta is None or meta.stored is None else meta.stored.dtype
    if picture and (o.dtype == "uint16" or (o.dtype == "input" and stored not in (None, "uint8"))):
        kind = "uint16" if o.dtype == "uint16" else f"input (the input's {stored})"
        raise InputError(
            f"a {o.out.suffix} result holds 8 bits; --dtype {kind} needs a .tif, .npy, .mat or .hdr output"
        )
    if o.dtype == "uint16" and bits is not None and bits > 16:
        raise InputError(f"a uint16 output holds at most 16 bits, not --bit-depth {bits}")
    store = None if o.dtype == "input" and meta is None else storage(o.dtype, bits, meta)
    check_creation_options(o.creation, dtype=store.dtype if store is not None else "float32", bands=bands)
    if store is None:
        return
    try:
        stored_nodata(store, masked, nodata)
    except InputError as exc:
        raise InputError(str(exc).replace("for its masked pixels", "to mark its nodata pixels")) from None


def load_reference(
    spec: str,
    shape: torch.Size,
    bit_depth: int | None = None,
    layout: Layout = "auto",
    wavelengths: Sequence[float] | None = None,
) -> torch.Tensor:
    """The ground truth as (1, C, H, W), checked against the result's shape and bands' ``wavelengths``."""
    eval_hint = f"gdd eval RESULT --reference {spec}"
    try:
        r = read_raster(spec, name="reference", bit_depth=bit_depth, layout=layout)
    except NotFiniteError:
        raise InputError(
            f"reference {spec}: contains NaN or Inf values, and --reference scores every pixel; score the result "
            f"on the others with {eval_hint} --nodata nan"
        ) from None
    if r.mask is not None:
        raise InputError(
            f"reference {spec}: {int((~r.mask).sum())} nodata pixels, and --reference scores every pixel; score the "
            f"result on the others with {eval_hint}"
        )
    ref = to_tensor(r.data)
    if ref.shape != shape:
        raise InputError(
            f"reference {spec}: {ref.shape[2]} x {ref.shape[3]} x {ref.shape[1]}, "
            f"the result {shape[2]} x {shape[3]} x {shape[1]}"
        )
    differ = band_mismatch(wavelengths, r.wavelengths)
    if differ:
        raise InputError(
            f"reference {spec}: {differ}, not the result's ({wavelengths[0]:g}-{wavelengths[-1]:g} nm); "  # type: ignore[index]
            "its bands must be the result's, in their order"
        )
    return ref


def warn_of_dropped_georeferencing(s: FuseSettings, lr: Raster, hr: Raster) -> None:
    """Warn where an input is placed by RPCs or ground control points that the result's format cannot carry (ENVI)."""
    sensor = hr.sensor or lr.sensor
    suffix = s.outputs.out.suffix.lower()
    if sensor and not (hr.transform or lr.transform) and suffix == ".hdr":  # a picture's .aux.xml holds it
        name = s.inputs.names[1 if hr.sensor else 0]
        print(
            f"gdd: warning: {name} {split_spec(s.inputs.spec(name))[0].name}: georeferenced by {sensor.kind}, "
            f"which a {suffix} result does not carry: it has no georeferencing (write a .tif to keep it)",
            file=sys.stderr,
        )


def output_meta(s: FuseSettings, lr: Raster, hr: Raster) -> Raster:
    """What the result file carries: the guide's grid (or the low-res grid refined), the low-res bands' names."""
    unread = [n for n, r in zip(s.inputs.names, (lr, hr)) if r.geotiff_unread]
    if unread and s.outputs.out.suffix.lower() in (".tif", ".tiff"):
        spec = split_spec(s.inputs.spec(unread[0]))[0]
        raise InputError(
            f"{unread[0]} {spec}: a GeoTIFF; keeping its georeferencing needs rasterio: pip install 'gdd[geo]'"
        )
    transform, sensor, f = hr.transform, None, s.inputs.factor
    if transform is None and lr.transform is not None:
        a, b, c, d, e, g = lr.transform
        transform = (a / f, b / f, c, d / f, e / f, g)
    if transform is None:  # a raw product's RPCs or ground control points, on the result's grid
        sensor = hr.sensor or (lr.sensor.refined(f) if lr.sensor else None)
    return Raster(
        data=np.empty((0, 0, 0), np.float32),
        crs=hr.crs or lr.crs,
        transform=transform,
        sensor=sensor,
        descriptions=lr.descriptions,
        wavelengths=lr.wavelengths,
        stored=lr.stored,
        fwhm=lr.fwhm,
        icc=lr.icc,
        exif=lr.exif,
    )


def tile_and_overlap(s: FuseSettings, tile: int) -> tuple[int, int]:
    """The tile side with its overlap: the one given, or an eighth of the tile (a multiple of the factor)."""
    factor = s.inputs.factor
    if s.tiling.overlap == "auto":
        return tile, max(factor, tile // 8 // factor * factor)
    return tile, int(s.tiling.overlap)
