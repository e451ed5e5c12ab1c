"""One fusion run from files: plan the windows, read, build the problem, solve, write, report.

A run is one window when the scene fits in the device's memory, or a grid of overlapping tiles
(:mod:`gdd.tiles`) when it does not or when asked. The checks of the inputs (sizes at the
factor, coordinate systems, nodata, the output type) are made once, in :mod:`gdd.app.inputs`,
for either plan; the degradations asked to be estimated are estimated once (on the whole scene,
or on its central window) and passed down as a value.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import torch

from ..io import InputError, WindowReader, check_output, preview_georeference, split_spec
from ..io.formats import input_files
from . import tiled, whole
from .degradations import ESTIMATE_FILES, check_degradation_options
from .inputs import tile_and_overlap
from .memory import available_memory, estimate_memory, largest_tile
from .settings import FuseSettings, OutputSettings
from .tilestore import tile_folder

__all__ = ["check_written_files", "fuse", "written_files"]


def fuse(s: FuseSettings) -> int:
    """``gdd hs|pan|flash``: fuse the pair of ``s`` and write the result; the exit code.

    A run that fails leaves nothing of its own behind (the tiles of a tiled run are kept: they
    are how it resumes).
    """
    check_output(s.outputs.out, force=s.outputs.force)  # before reading anything
    check_written_files(s)
    beside = [s.outputs.beside(n) for n in ESTIMATE_FILES]
    before = {p for p in beside if p.exists()}
    stamp = _stamp(s.outputs.out)
    try:
        return _fuse(s, [p for p in beside if p not in before])
    except BaseException:
        if _stamp(s.outputs.out) == stamp:  # no result written: nothing of this run stays
            for p in beside:
                if p not in before:
                    p.unlink(missing_ok=True)
        # A result written before the failure (in the JSON record, the report, a closed pipe)
        # keeps the estimates it was fitted with beside it.
        raise


def _stamp(path: Path) -> tuple[int, int] | None:
    """A file's modification time and inode, None where there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ino


def written_files(o: OutputSettings) -> dict[Path, str]:
    """Every file a run with these outputs may write, by the option that names it (the result's own first)."""
    files = {o.out: "the result (--out)"}
    if o.out.suffix.lower() == ".hdr":
        files[o.out.with_suffix(".img")] = "the result's data file"
    files[o.preview] = "the result's preview"
    files[preview_georeference(o.preview)] = "the preview's georeference"
    files.update({o.beside(n): "a file written beside the result" for n in ESTIMATE_FILES})
    if o.json:
        files[Path(o.json)] = "--json"
    if o.report:
        files[Path(o.report)] = "--report"
    return files


def check_written_files(s: FuseSettings) -> None:
    """Before any work: ``--json`` and ``--report`` can be written, and no file is written twice or over an input.

    The fusion writes its result, the preview and the files beside them; a ``--json`` or
    ``--report`` named like one of them, or like an input, would overwrite it (with ``--force``,
    or silently where the run itself wrote it first).

    Raises:
        InputError: naming the two roles of the one path.
    """
    o = s.outputs
    if o.json:
        check_output(o.json, force=o.force, suffixes=(".json",), what="json")
    if o.report:
        check_output(o.report, force=o.force, suffixes=(".html", ".htm"), what="report")
    seen: dict[Path, str] = {}
    for path, role in written_files(s.outputs).items():
        key = path.resolve()
        if key in seen:
            raise InputError(f"{path} would be written twice: as {seen[key]} and as {role}")
        seen[key] = role
    read: list[tuple[str, str | None]] = [(f"--{name}", s.inputs.spec(name)) for name in s.inputs.names]
    read += [("--reference", s.inputs.reference), ("--srf", s.degradation.srf), ("--blur", s.degradation.blur)]
    for option, spec in read:
        if not spec or spec == "estimate":
            continue
        for read_file in input_files(split_spec(spec)[0]):  # an ENVI image's header and data file too
            key = read_file.resolve()
            if key in seen:
                raise InputError(f"{read_file} is the input {option}; it cannot also be {seen[key]}")


def _fuse(s: FuseSettings, fresh: list[Path]) -> int:
    check_degradation_options(s)
    windows = plan_windows(s)
    if windows is not None:
        try:
            return tiled.run(s, *windows)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (gdd.interrupt.Terminated)
            raise type(exc)("its finished tiles are kept: the same command goes on from them") from None
    try:
        return whole.run(s)
    except torch.cuda.OutOfMemoryError:
        if s.tiling.tile != "auto":
            raise
        # The estimate was too hopeful: fuse in tiles of half the scene's side (each split again
        # if it still does not fit).
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        for p in fresh:  # estimated again for the tiles
            p.unlink(missing_ok=True)
        hr_name = s.inputs.names[1]
        h, w = WindowReader(s.inputs.spec(hr_name), name=hr_name, layout=s.inputs.layout).shape[:2]
        tile, overlap = tile_and_overlap(s, max(s.inputs.factor, max(h, w) // 2 // s.inputs.factor * s.inputs.factor))
        print(f"gdd: one fit of {h} x {w} pixels ran out of memory; fusing in tiles of {tile}", file=sys.stderr)
        return tiled.run(s, tile, overlap)


def plan_windows(s: FuseSettings) -> tuple[int, int] | None:
    """(tile, overlap) when the scene is to be fused in tiles, None for one fit.

    ``--tile auto`` fuses in one piece what fits in the device's free memory and otherwise
    takes the largest tile that does; ``--tile none`` (or a size at least the scene's) is one
    fit, refused with a proposed tile size when it would not fit.
    """
    t, fit = s.tiling, s.fit
    stored = tile_folder(s.outputs.out) / "plan.json"
    if t.tile == "auto" and stored.exists():
        # An interrupted tiled run: go on with its tiles, whatever the free memory is now.
        with contextlib.suppress(ValueError, KeyError, TypeError):
            found = json.loads(stored.read_text())
            return int(found["tile"]), int(found["overlap"])
    factor, hr_name = s.inputs.factor, s.inputs.names[1]
    h, w = WindowReader(s.inputs.spec(hr_name), name=hr_name, **s.inputs.read_options()).shape[:2]
    device = fit.device
    free = available_memory(device)
    need = estimate_memory(s.task, h, w, budget=fit.budget, channels=fit.width)
    tile: int | None = None if t.tile in ("auto", "none") else int(t.tile)
    fits = free is None or need <= 0.8 * free
    kind = torch.device(device).type
    if tile is None or tile >= max(h, w):
        if fits:
            return None
        proposal = largest_tile(s.task, 0.8 * free, budget=fit.budget, channels=fit.width, factor=factor)  # type: ignore[operator]
        if t.tile != "auto":
            gib = 2**30
            raise InputError(
                f"one fit of {h} x {w} pixels needs about {need / gib:.1f} GiB but {free / gib:.1f} GiB are free "  # type: ignore[operator]
                f"on {kind}; fuse it in tiles: --tile {proposal}"
            )
        tile = proposal
        print(f"gdd: {h} x {w} pixels do not fit in one fit on {kind}; fusing in tiles of {tile}")
    elif free is not None:
        need_tile = estimate_memory(s.task, tile, tile, budget=fit.budget, channels=fit.width)
        if need_tile > 0.8 * free:
            proposal = largest_tile(s.task, 0.8 * free, budget=fit.budget, channels=fit.width, factor=factor)
            raise InputError(
                f"--tile {tile} needs about {need_tile / 2**30:.1f} GiB but {free / 2**30:.1f} GiB are free on "
                f"{kind}; use --tile {proposal} or less"
            )
    return tile_and_overlap(s, tile)
