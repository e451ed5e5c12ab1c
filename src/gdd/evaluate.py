"""``gdd eval``: quality indices of one or more results, as a table, JSON and CSV.

Reduced resolution (a reference exists): every index of :func:`gdd.metrics.reduced_resolution`.
Full resolution (a PAN and the MS it was fused from): those of
:func:`gdd.metrics.full_resolution`. Every option that changes a figure (ratio, data range,
border cut, clipping, block size, sensor) is written beside the figures.

Nodata (the files' declared value, or ``nodata``): the indices are computed on the rectangle
that holds every file's valid pixels (on the ratio's grid at full resolution), the same figures
as on those files cropped to it; where nodata pixels cut into that rectangle (a corner, a
swath's slanted edge), on the largest rectangle of data, said (:mod:`gdd.metrics.area`).

Images wider or taller than ``window`` (2048 pixels by default) are evaluated at reduced
resolution window by window (:mod:`gdd.metrics.windowed`): only a window of each file is in
memory at a time, and the figures are those of the whole image.
"""

from __future__ import annotations

import csv
import io as _io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .checks import band_mismatch, nonnegative_int, positive_int
from .io import InputError, Layout, NoDataError, UsageError, WindowReader, atomic, check_output, read_image, to_tensor
from .io.read import Raster, read_raster
from .metrics import COLUMNS, LABELS, by_direction, format_value, full_resolution, reduced_resolution
from .metrics.area import DataCells, valid_box
from .metrics.windowed import reduced_resolution_windows
from .sensors import SENSORS

__all__ = ["COLUMNS", "WINDOW", "Evaluation", "evaluate_files", "format_table", "to_csv", "to_json"]

#: The side of the windows a large image is evaluated in (smaller images are read whole).
WINDOW = 2048


@dataclass
class Evaluation:
    """The indices of each result, with the settings that produced them."""

    protocol: Literal["reduced", "full"]
    settings: dict[str, object]
    rows: list[tuple[str, str, dict[str, float | None]]] = field(default_factory=list)


def _names(paths: list[str]) -> list[str]:
    stems = [Path(str(p).split(":")[0]).stem if ":" in str(p)[2:] else Path(p).stem for p in paths]
    return stems if len(set(stems)) == len(stems) else list(paths)


def _read(spec: str, name: str, bit_depth: int | None, layout: Layout, nodata: float | None) -> Raster:
    return read_raster(spec, name=name, bit_depth=bit_depth, layout=layout, nodata=nodata)


#: How far apart the largest values of two images may be before they look read on different scales.
SCALE_GAP = 20.0


def _warn_of_scales(
    images: list[tuple[str, np.ndarray]], against: tuple[str, np.ndarray], data_range: float | None
) -> None:
    """Warn of images whose values lie on another scale than ``against``'s, or above ``data_range``.

    Integer files are divided by their type's range (65535 for 16 bits) unless ``--bit-depth``
    says theirs, and float files are read as they are: a float result in [0, 1] against an 11-bit
    uint16 reference read without ``--bit-depth``, or digital numbers against a [0, 1] image,
    give indices that mean nothing, and no error would say so.
    """
    import sys

    top = float(np.nanmax(np.abs(against[1]))) if against[1].size else 0.0
    peaks = [float(np.nanmax(np.abs(a))) if a.size else 0.0 for _, a in images]
    for (name, _), peak in zip(images, peaks, strict=True):
        if min(peak, top) > 0 and max(peak, top) / min(peak, top) > SCALE_GAP:
            print(
                f"gdd: warning: {name}'s values reach {peak:.4g} but the {against[0]}'s {top:.4g}: they look read "
                "on different scales (integer files are divided by their type's range unless --bit-depth says "
                "theirs); the indices compare them as they are",
                file=sys.stderr,
            )
            return
    peak = max([top, *peaks])
    if data_range is not None and peak > 0 and data_range > SCALE_GAP * peak:
        print(
            f"gdd: warning: --data-range {data_range:g} is far above every value (at most {peak:.4g}): integer "
            "files are read divided by their type's range (or 2^--bit-depth - 1), so their range is 1",
            file=sys.stderr,
        )
    elif data_range is not None and peak > SCALE_GAP * data_range:
        print(
            f"gdd: warning: the values reach {peak:.4g}, far above --data-range {data_range:g}: PSNR and SSIM "
            "take it as the peak value; give the images' own range",
            file=sys.stderr,
        )


def _said(box: tuple[slice, slice] | None, share: float | None) -> tuple[slice, slice] | None:
    """The rectangle of data the indices are computed on (:func:`gdd.metrics.area.valid_box`), said where it cuts."""
    if box is not None and share is not None:
        print(
            f"gdd eval: nodata pixels cut into the data; the indices are computed on its largest rectangle, rows "
            f"{box[0].start}-{box[0].stop - 1}, columns {box[1].start}-{box[1].stop - 1} ({share:.0%} of the pixels "
            "with data)"
        )
    return box


def _same_bands(results: list[tuple[str, Raster]], against: tuple[str, Raster]) -> None:
    """Refuse a result whose bands' wavelengths are not those of the image it is compared with."""
    for spec, r in results:
        differ = band_mismatch(against[1].wavelengths, r.wavelengths)
        if differ:
            raise InputError(f"result {spec}: {differ}, not those of {against[0]}; compare bands in the same order")


def _match(
    have_shape: tuple[int, ...], shape: tuple[int, ...], what: str, spec: str, against: str = "the result"
) -> None:
    if have_shape != shape:
        have, want = (" x ".join(map(str, s)) for s in (have_shape, shape))
        raise InputError(f"{spec}: {what} is {have}, {against} {want}")


def evaluate_files(
    results: list[str],
    *,
    reference: str | None = None,
    ms: str | None = None,
    pan: str | None = None,
    pan_lr: str | None = None,
    ratio: int | None = None,
    sensor: str = "none",
    pan_degradation: str = "mtf",
    layout: Layout = "auto",
    data_range: float = 1.0,
    dim_cut: int = 0,
    clip: float | None = None,
    block_size: int | None = None,
    bit_depth: int | None = None,
    nodata: float | None = None,
    window: int = WINDOW,
) -> Evaluation:
    """Read the results and the reference (or the MS and PAN) and compute every index.

    Pixels that are nodata in any file (``nodata``, else the files' declared values) are left
    out by cropping every file to the rectangle of valid pixels (see the module's docstring).
    With a reference, images larger than ``window`` pixels on a side are read and evaluated
    window by window (the same figures, a window of each file in memory at a time).

    Raises:
        InputError: unreadable files, shapes that do not match, a missing or contradictory ratio.
    """
    if not results:
        raise UsageError("give at least one result to evaluate")
    if reference is not None and (ms is not None or pan is not None):
        raise UsageError("give either --reference (reduced resolution) or --ms and --pan (full resolution), not both")
    if reference is None and (ms is None or pan is None):
        raise UsageError("give --reference GT, or both --ms and --pan for the full-resolution indices")
    chosen_block = block_size is not None
    block_size = 32 if block_size is None else block_size
    if reference is not None and sensor != "none":
        raise UsageError(
            "--sensor sets the MTF of the full-resolution indices (--ms, --pan); it does nothing with --reference"
        )
    if reference is None and dim_cut:
        raise UsageError(
            "--dim-cut cuts the border of the reduced-resolution indices (--reference); not with --ms, --pan"
        )
    positive_int(window, "window")
    from .app.inputs import same_grid  # the fusion's grid check, for files compared pixel for pixel

    settings: dict[str, object] = {"reference": reference, "ratio": ratio, "data_range": data_range}
    settings |= {"dim_cut": dim_cut, "clip": clip, "block_size": block_size, "bit_depth": bit_depth}
    if reference is not None:
        # The first result's size decides (a GeoTIFF's or an .npy's without reading its pixels).
        def open_(spec: str, name: str) -> WindowReader:
            return WindowReader(spec, name=name, bit_depth=bit_depth, layout=layout, nodata=nodata)

        first = open_(results[0], "result")
        if max(first.shape[:2]) > window:
            readers, truth = [first, *(open_(r, "result") for r in results[1:])], open_(reference, "reference")
            same_grid((f"result {results[0]}", first.meta), (f"reference {reference}", truth.meta), 1)
            _same_bands([(r, f.meta) for r, f in zip(results, readers)], (f"the reference {reference}", truth.meta))
            return _by_windows(readers, truth, results, window, settings)
    read = [_read(r, "result", bit_depth, layout, nodata) for r in results]
    arrays = [r.data for r in read]
    masks = [r.mask for r in read if r.mask is not None]
    for r, a in zip(results[1:], arrays[1:]):
        _match(a.shape, arrays[0].shape, "this result", r, f"the first ({results[0]})")
    names = _names(results)
    if reference is not None:
        ref_r = _read(reference, "reference", bit_depth, layout, nodata)
        ref, ref_mask = ref_r.data, ref_r.mask
        _match(ref.shape, arrays[0].shape, "the reference", reference)
        same_grid((f"result {results[0]}", read[0]), (f"reference {reference}", ref_r), 1)
        _same_bands(list(zip(results, read)), (f"the reference {reference}", ref_r))
        box = _said(*valid_box([*masks, *([ref_mask] if ref_mask is not None else [])]))
        if box is not None:
            arrays, ref = [a[box] for a in arrays], ref[box]
        _warn_of_scales(
            [(f"result {r}", a) for r, a in zip(results, arrays)], (f"reference {reference}", ref), data_range
        )
        if box is not None:
            settings["valid_area"] = [int(v) for v in (box[0].start, box[0].stop, box[1].start, box[1].stop)]
        ev = Evaluation("reduced", settings)
        ref_t = to_tensor(ref)
        for name, path, a in zip(names, results, arrays):
            m = reduced_resolution(
                to_tensor(a),
                ref_t,
                ratio=ratio or 1,
                data_range=data_range,
                dim_cut=dim_cut,
                clip=clip,
                block_size=block_size,
            )
            if ratio is None:
                m["ergas"] = None
            ev.rows.append((name, path, m))
        return ev
    assert ms is not None and pan is not None
    ms_r, pan_r = _read(ms, "ms", bit_depth, layout, nodata), _read(pan, "pan", bit_depth, layout, nodata)
    (ms_a, ms_mask), (pan_a, pan_mask) = (ms_r.data, ms_r.mask), (pan_r.data, pan_r.mask)
    _same_bands(list(zip(results, read)), (f"the MS {ms}", ms_r))
    h, w, c = arrays[0].shape
    if pan_a.shape[:2] != (h, w) or pan_a.shape[2] != 1:
        raise InputError(
            f"{pan}: the PAN is {pan_a.shape[0]} x {pan_a.shape[1]} x {pan_a.shape[2]}, expected {h} x {w}"
        )
    if ms_a.shape[2] != c:
        raise InputError(f"{ms}: the MS has {ms_a.shape[2]} bands, the result {c}")
    if ms_a.shape[:2] == (h, w):
        # An MS already resampled to the PAN's grid (the toolbox 1.0 protocol): the sizes cannot tell the ratio.
        if ratio is None:
            raise InputError(f"{ms}: the MS has the result's size; give --ratio (the MTF filters depend on it)")
        found = ratio
    else:
        found = h // ms_a.shape[0] if ms_a.shape[0] else 0
        if found < 2 or ms_a.shape[:2] != (h // found, w // found) or h % found or w % found:
            raise InputError(
                f"{ms}: the MS is {ms_a.shape[0]} x {ms_a.shape[1]}; the result ({h} x {w}) is no multiple of it"
            )
        if ratio is not None and ratio != found:
            raise InputError(f"--ratio {ratio} contradicts the sizes: the result is {found} times the MS")
    for file, factor in ((f"ms {ms}", ms_r), h // ms_a.shape[0]), ((f"pan {pan}", pan_r), 1):
        same_grid((f"result {results[0]}", read[0]), file, factor)
    _warn_of_scales([(f"result {r}", a) for r, a in zip(results, arrays)], (f"ms {ms}", ms_a), None)
    if sensor not in SENSORS:
        raise InputError(f"unknown sensor {sensor!r}; expected one of {', '.join(SENSORS)}")
    if chosen_block and block_size > min(h, w):
        raise InputError(f"--block-size {block_size}: larger than the {h} x {w} image")
    step = h // ms_a.shape[0]
    if ms_mask is not None:
        masks.append(np.kron(ms_mask, np.ones((step, step), dtype=bool)).astype(bool))
    if pan_mask is not None:
        masks.append(pan_mask)
    box = _said(*valid_box(masks, unit=step))
    if box is not None:
        low = (slice(box[0].start // step, box[0].stop // step), slice(box[1].start // step, box[1].stop // step))
        arrays, pan_a, ms_a = [a[box] for a in arrays], pan_a[box], ms_a[low]
    pan_lr_t = None
    if pan_lr is not None:
        pl = read_image(pan_lr, name="pan_lr", bit_depth=bit_depth, layout=layout)
        if pl.shape != (*ms_a.shape[:2], 1):
            raise InputError(f"{pan_lr}: the low-resolution PAN must be one band of {ms_a.shape[0]} x {ms_a.shape[1]}")
        pan_lr_t = to_tensor(pl)
    settings = {
        "ms": ms,
        "pan": pan,
        "pan_lr": pan_lr or _pan_lr_text(pan_degradation, sensor, full_size=ms_a.shape[:2] == (h, w)),
        "ratio": found,
        "sensor": sensor,
        "clip": clip,
        "block_size": block_size,
        "bit_depth": bit_depth,
    }
    if box is not None:
        settings["valid_area"] = [int(v) for v in (box[0].start, box[0].stop, box[1].start, box[1].stop)]
    ev = Evaluation("full", settings)
    ms_t, pan_t = to_tensor(ms_a), to_tensor(pan_a)
    for name, path, a in zip(names, results, arrays):
        try:
            m = full_resolution(
                to_tensor(a),
                ms_t,
                pan_t,
                ratio=found,
                sensor=sensor,
                pan_lr=pan_lr_t,
                pan_degradation=pan_degradation,  # type: ignore[arg-type]
                block_size=block_size,
                clip=clip,
            )
        except ValueError as exc:
            raise InputError(f"{path}: {exc}") from None
        ev.rows.append((name, path, m))
    return ev


def _by_windows(
    readers: list[WindowReader], ref: WindowReader, results: list[str], window: int, settings: dict[str, Any]
) -> Evaluation:
    """The reduced-resolution indices of large files, window by window (see :func:`evaluate_files`)."""
    shape = readers[0].shape
    for r, reader in zip(results[1:], readers[1:]):
        _match(reader.shape, shape, "this result", r, f"the first ({results[0]})")
    _match(ref.shape, shape, "the reference", settings["reference"])
    every = [*readers, ref]
    h, w, _ = shape
    nonnegative_int(settings["dim_cut"], "dim_cut")
    # First pass, where a file may hold nodata: the rows and columns with data, and where it is whole.
    cells = DataCells(h, w, window)
    for r0 in range(0, h, cells.step):  # (a picture's transparent pixels are nodata without a value too)
        for c0 in range(0, w, cells.step):
            span = (slice(r0, min(r0 + cells.step, h)), slice(c0, min(c0 + cells.step, w)))
            cells.add(r0, c0, np.logical_and.reduce([_mask(f, span) for f in every]))
    box = _said(*cells.box())  # as read whole
    return _windowed_indices(
        readers, ref, results, box or (slice(0, h), slice(0, w)), box is not None, window, settings
    )


def _mask(reader: WindowReader, span: tuple[slice, slice]) -> np.ndarray:
    """A window's pixels with data (True), none where every one is nodata."""
    shape = (span[0].stop - span[0].start, span[1].stop - span[1].start)
    try:
        mask = reader.read(*span).mask
    except NoDataError:
        return np.zeros(shape, bool)
    return np.ones(shape, bool) if mask is None else mask


def _windowed_indices(
    readers: list[WindowReader],
    ref: WindowReader,
    results: list[str],
    box: tuple[slice, slice],
    bordered: bool,
    window: int,
    settings: dict[str, Any],
) -> Evaluation:
    """The indices on the rectangle ``box`` of the files, all data (less ``dim_cut``), window by window."""
    cut, c = settings["dim_cut"], ref.shape[2]
    top, left = box[0].start + max(cut - 1, 0), box[1].start + max(cut - 1, 0)
    shape = (box[0].stop - cut - top, box[1].stop - cut - left, c)
    if min(box[0].stop - box[0].start, box[1].stop - box[1].start) < (2 * cut + 1 if cut else 1):  # as crop_border
        raise InputError(f"--dim-cut {cut} leaves no pixel of the {ref.shape[0]} x {ref.shape[1]} image")
    settings = {
        **settings,
        **({"valid_area": [box[0].start, box[0].stop, box[1].start, box[1].stop]} if bordered else {}),
    }
    settings["window"] = window

    def pair(reader: WindowReader) -> Any:
        def read(rs: slice, cs: slice) -> tuple[np.ndarray, np.ndarray]:
            at = (slice(rs.start + top, rs.stop + top), slice(cs.start + left, cs.stop + left))
            got = [reader.read(*at), ref.read(*at)]
            if any(g.mask is not None and not g.mask.all() for g in got):  # the first pass found none here
                raise InputError(f"nodata pixels inside the rectangle of data (rows {at[0].start}-{at[0].stop - 1})")
            return got[0].data, got[1].data

        return read

    ev = Evaluation("reduced", settings)
    for name, path, reader in zip(_names(results), results, readers):
        m = reduced_resolution_windows(
            pair(reader), shape, ratio=settings["ratio"] or 1, data_range=settings["data_range"],
            clip=settings["clip"], block_size=settings["block_size"], window=window,
        )  # fmt: skip
        if settings["ratio"] is None:
            m["ergas"] = None
        ev.rows.append((name, path, m))
    return ev


def _pan_lr_text(how: str, sensor: str, *, full_size: bool) -> str:
    if how == "bicubic":
        return "PAN shrunk by MATLAB's bicubic imresize"
    pan_gain = SENSORS["none"][1]
    mtf = (
        f"a Gaussian MTF of gain {pan_gain:g} at Nyquist (no sensor named)"
        if sensor == "none"
        else f"the {sensor} PAN MTF"
    )
    return f"PAN filtered by {mtf}" + ("" if full_size else " and decimated")


def format_table(ev: Evaluation) -> str:
    """A plain-text table: one row per result, one column per index, and the settings above it."""
    cols = {k: LABELS[k] for k in COLUMNS[ev.protocol]}
    name_w = max(8, *(len(n) for n, _, _ in ev.rows))
    widths = {k: max(len(label), 7) for k, label in cols.items()}
    settings = ", ".join(
        f"{k} {v}" for k, v in ev.settings.items() if v is not None and k not in ("reference", "ms", "pan")
    )
    lines = [f"{'reduced' if ev.protocol == 'reduced' else 'full'}-resolution indices ({settings})"]
    lines.append(" ".join([f"{'result':<{name_w}}", *(f"{cols[k]:>{widths[k]}}" for k in cols)]))
    for name, _, m in ev.rows:
        lines.append(" ".join([f"{name:<{name_w}}", *(f"{format_value(m.get(k), k):>{widths[k]}}" for k in cols)]))
    better, worse = ([cols[k] for k in keys] for keys in by_direction(cols))
    lines.append(f"higher is better: {', '.join(better)}" + (f"; lower is better: {', '.join(worse)}" if worse else ""))
    if ev.protocol == "reduced" and ev.settings.get("ratio") is None:
        lines.append("ERGAS needs the resolution ratio: give --ratio")
    return "\n".join(lines)


def to_json(ev: Evaluation) -> dict[str, object]:
    """The evaluation as a JSON-ready dict (NaN and inf become null and strings)."""
    return {
        "protocol": ev.protocol,
        "settings": ev.settings,
        "results": [{"name": n, "path": p, "metrics": m} for n, p, m in ev.rows],
    }


def to_csv(ev: Evaluation) -> str:
    """One header line (name, path, then the index keys) and one line per result."""
    keys = list(COLUMNS[ev.protocol])
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "path", *keys])
    for n, p, m in ev.rows:
        writer.writerow([n, p, *("" if m.get(k) is None else repr(float(m[k])) for k in keys)])  # type: ignore[arg-type]
    return buf.getvalue()


def write_text(path: str | os.PathLike[str], text: str, *, suffix: str, force: bool) -> Path:
    """Write a text file atomically, refusing to overwrite without ``force``."""
    out = check_output(path, force=force, suffixes=(suffix,), what=suffix[1:].upper())
    atomic(out, lambda tmp: tmp.write_text(text))
    return out
