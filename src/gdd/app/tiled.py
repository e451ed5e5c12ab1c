"""The tiled plan: fit each tile (splitting one that runs out of memory), keep it, blend, write by strips.

The inputs are read window by window (:class:`gdd.io.WindowReader`); what is decided once for
the scene (estimated degradations, the check of the given HS degradations, the pansharpening
start, a shared PAN band mixture) is decided on its central window and passed to every tile.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..io import (
    InputError,
    NoDataError,
    StripWriter,
    WindowReader,
    atomic,
    check_output,
    from_tensor,
    preview_bands,
    preview_georeference,
    to_tensor,
    write_json,
    write_preview,
)
from ..problems import Preset, Problem, choose_start, held_out, pan_start, solve
from ..problems.holdout import choose_model
from ..problems.pixels import too_few_to_hold_out
from ..problems.presets import choose_preset
from ..problems.said import rule_line
from ..problems.solve import checked_degradations, checked_problem
from ..progress import ProgressBar
from ..tiles import Tile, blend_weights, tile_grid
from .decision import CENTRAL_WINDOW, decision_window
from .decision import central as central_window
from .degradations import Estimates, build_problem, estimate, with_response
from .inputs import (
    check_free,
    check_output_type,
    check_pair,
    intersection,
    no_pixel_valid_in_both,
    nodata_value,
    output_meta,
    warn_of_inputs,
    windows_line,
)
from .memory import peak_memory
from .settings import FuseSettings
from .tilestore import TileStore, blend, plan, preview_step, thinned, tile_folder

__all__ = ["MIN_TILE", "run"]

#: The smallest tile a tile that ran out of memory is split into.
MIN_TILE = 64


def _split(tile: Tile, factor: int, overlap: int) -> tuple[int, int] | None:
    """Half the tile's side (a multiple of the factor) and an overlap that fits it, or None."""
    side = max(tile.height, tile.width) // 2 // factor * factor
    if side < max(MIN_TILE, factor):
        return None
    ov = min(overlap, (side // 2 - 1) // factor * factor)
    return side, max(ov, 0)


class _Tiles:
    """Read a tile's windows, build its problem and fit it (splitting it when the device runs out of memory)."""

    def __init__(
        self, s: FuseSettings, readers: tuple[WindowReader, WindowReader], estimates: Estimates, **solve_options: Any
    ) -> None:
        self.s, self.readers, self.factor = s, readers, s.inputs.factor
        self.estimates = estimates
        self.mixture: torch.Tensor | None = None
        self.options = s.fit.solve_options(**solve_options)

    def windows(self, tile: Tile) -> tuple[Any, Any]:
        lr_reader, hr_reader = self.readers
        return lr_reader.read(*tile.window(self.factor)), hr_reader.read(*tile.window())

    def problem(self, tile: Tile) -> Problem:
        lr, hr = self.windows(tile)
        lr_mask = None if lr.mask is None else torch.from_numpy(lr.mask)
        hr_mask = None if hr.mask is None else torch.from_numpy(hr.mask)
        return build_problem(
            self.s, to_tensor(lr.data), to_tensor(hr.data), lr_mask, hr_mask, estimates=self.estimates,
            mixture=self.mixture,
        )  # fmt: skip

    def solve(self, problem: Problem) -> Any:
        return solve(problem, **self.options_for(problem))

    def options_for(self, problem: Problem) -> dict[str, Any]:
        """The run's options; without held-out pixels for a tile with too few observed pixels to hold two out.

        A tile at a swath's edge may see a handful of low-resolution pixels: held-out validation
        there would score a choice on one pixel or none.
        """
        if too_few_to_hold_out(problem.observation_mask, _preset(self.s).holdout):
            return {**self.options, "holdout": 0.0}
        return self.options

    def fit(self, tile: Tile, overlap: int) -> tuple[np.ndarray, dict[str, object]]:
        try:
            problem = self.problem(tile)
        except NoDataError:
            return self.empty(tile)
        if problem.valid is not None and not bool(problem.valid.any()):
            return self.empty(tile)
        device = torch.device(self.s.fit.device)
        try:
            result = self.solve(problem)
        except torch.cuda.OutOfMemoryError:
            if device.type == "cuda":
                torch.cuda.empty_cache()
            smaller = _split(tile, self.factor, overlap)
            if smaller is None:
                raise InputError(
                    f"a {tile.height} x {tile.width} tile does not fit in the {device.type} memory "
                    f"and cannot be split further"
                ) from None
            side, ov = smaller
            print(
                f"gdd: tile {tile.index} ({tile.height} x {tile.width}) ran out of {device.type} memory; "
                f"fusing it as tiles of {side} x {side}",
                file=sys.stderr,
            )
            return self._fit_split(tile, side, ov)
        x = from_tensor(result.x.detach().cpu())
        if problem.valid is not None:
            x = np.where(problem.valid[0, 0].numpy()[..., None], x, np.nan).astype(np.float32)
        info: dict[str, object] = {
            "index": tile.index,
            "window": [tile.row, tile.col, tile.height, tile.width],
            "seconds": result.seconds,
            "iterations": result.config.iterations,
            "chosen": (result.choice or {}).get("chosen"),
        }
        if self.options_for(problem) is not self.options:
            info["holdout"] = 0.0  # too few observed pixels to hold any out
        return x, info

    def empty(self, tile: Tile) -> tuple[np.ndarray, dict[str, object]]:
        """A tile without a pixel backed by data in every input: nodata throughout, nothing fitted."""
        bands = self.readers[0].shape[2]
        x = np.full((tile.height, tile.width, bands), np.nan, np.float32)
        info: dict[str, object] = {
            "index": tile.index,
            "window": [tile.row, tile.col, tile.height, tile.width],
            "seconds": 0.0,
            "iterations": 0,
            "chosen": None,
            "nodata": True,
        }
        return x, info

    def _fit_split(self, tile: Tile, side: int, overlap: int) -> tuple[np.ndarray, dict[str, object]]:
        sub = tile_grid(tile.height, tile.width, tile=side, overlap=overlap, factor=self.factor)
        num = den = None
        parts = []
        for s in sub:
            x, info = self.fit(Tile(s.index, tile.row + s.row, tile.col + s.col, s.height, s.width), overlap)
            if num is None or den is None:
                num, den = np.zeros((tile.height, tile.width, x.shape[-1])), np.zeros((tile.height, tile.width))
            w = blend_weights(s, tile.height, tile.width, overlap=overlap)
            num[s.row : s.row + s.height, s.col : s.col + s.width] += w[..., None] * x
            den[s.row : s.row + s.height, s.col : s.col + s.width] += w
            parts.append(info)
        x = (num / den[..., None]).astype(np.float32)  # type: ignore[index,operator]
        return x, {
            "index": tile.index,
            "window": [tile.row, tile.col, tile.height, tile.width],
            "seconds": sum(float(p["seconds"]) for p in parts),  # type: ignore[arg-type,misc]
            "split": parts,
        }

    def shared_mixture(self, store: TileStore, centre: Tile) -> torch.Tensor:
        """The band mixture learned on the central tile, fitted once (kept with the tiles for a resume)."""
        path = store.folder / "mixture.npy"
        if path.exists():
            return torch.from_numpy(np.load(path))
        result = self.solve(self.problem(centre))
        learned = next(op.srf for op in result.operators if isinstance(getattr(op, "srf", None), torch.nn.Parameter))
        mixture = learned.detach().float().cpu()
        atomic(path, lambda t: np.save(t, mixture.numpy()))
        return mixture


def _first_problem(fuser: _Tiles, tiles: list[Tile]) -> Problem:
    """The problem of the first tile with data in both inputs (a tile without is written as nodata, not fitted)."""
    for t in tiles:
        try:
            problem = fuser.problem(t)
        except NoDataError:
            continue
        if problem.valid is None or bool(problem.valid.any()):
            return problem
    raise no_pixel_valid_in_both(*(r.label for r in fuser.readers))


def _model_choice(s: FuseSettings, readers: tuple[WindowReader, WindowReader], estimates: Estimates, tile: int) -> str:
    """``gdd pan --spatial auto`` in tiles: the degradation model chosen on a central tile, used for all.

    As in a whole-scene run (:func:`gdd.problems.holdout.choose_model`): the model under which
    the tile's classic start, made consistent with its kept MS pixels, predicts the held-out
    ones best. No network is fitted.
    """
    lr_reader, hr_reader = readers
    centre = decision_window(readers, s.inputs.factor, tile)
    lr, hr = lr_reader.read(*centre.window(s.inputs.factor)), hr_reader.read(*centre.window())
    masks = [None if m.mask is None else torch.from_numpy(m.mask) for m in (lr, hr)]
    problem = build_problem(s, to_tensor(lr.data), to_tensor(hr.data), *masks, estimates=estimates)
    preset = _preset(s)
    return choose_model(problem, preset.holdout, seed=s.fit.seed, init=preset.init)[0]


def _preset(s: FuseSettings) -> Preset:
    """The run's preset: its task's at its budget, with the options that override it."""
    return choose_preset(s.task, torch.device(s.fit.device), s.fit.budget, dict(s.fit.overrides))[1]  # type: ignore[arg-type]


def _checked(s: FuseSettings, central: tuple[Any, Any], estimates: Estimates) -> tuple[Estimates, dict[str, object]]:
    """The given HS degradations checked on the central window, as a whole-scene run checks them.

    Returns the estimates every tile uses (the estimated response and blur where they predict
    the window better) and the check's details (empty where there was no check: another task,
    degradations asked to be estimated, ``--keep-degradations``, no held-out validation, nodata
    in the window or a factor above the check's).
    """
    d = s.degradation
    if s.task != "hs" or not d.check or any(d.wants("hs")):
        return estimates, {}
    if _preset(s).holdout <= 0:
        return estimates, {}
    lr, hr = central
    masks = [None if m.mask is None else torch.from_numpy(m.mask) for m in (lr, hr)]
    problem = build_problem(s, to_tensor(lr.data), to_tensor(hr.data), *masks, estimates=estimates, whole=True)
    if problem.check is None:
        return estimates, {}
    better, details = checked_problem(problem)
    if details["chosen"] != "estimated":
        return estimates, details
    srf, kernel = checked_degradations(better)
    return replace(estimates, srf=srf, kernel=kernel), details


def _start_options(s: FuseSettings, central: tuple[Any, Any], estimates: Estimates) -> dict[str, Any]:
    """``--init auto`` of pansharpening, decided once on the central window so that every tile starts alike.

    The classic start of lowest held-out error; without held-out validation the legacy rule.
    """
    overrides = dict(s.fit.overrides)
    if s.task != "pan" or overrides.get("init") not in (None, "auto") or "more_starts" in overrides:
        return {}
    lr, hr = central
    masks = {k: None if m.mask is None else torch.from_numpy(m.mask) for k, m in (("ms", lr), ("pan", hr))}
    holdout = _preset(s).holdout
    if holdout > 0:
        problem = build_problem(
            s, to_tensor(lr.data), to_tensor(hr.data), masks["ms"], masks["pan"], estimates=estimates
        )  # fmt: skip
        fitted, validation = held_out(problem, holdout, seed=s.fit.seed)
        init, residual, _ = choose_start(fitted, validation)
    else:
        ms_mask, pan_mask = (None if m is None else m[None, None] for m in (masks["ms"], masks["pan"]))
        init, residual, _ = pan_start(
            to_tensor(lr.data), to_tensor(hr.data), s.inputs.factor, ms_mask=ms_mask, pan_mask=pan_mask
        )
    return {"init": init, "residual": overrides.get("residual", residual)}


def run(s: FuseSettings, tile: int, overlap: int) -> int:
    """Fuse the scene of ``s`` in tiles of ``tile`` pixels overlapping by ``overlap``."""
    o = s.outputs
    out = check_output(o.out, force=o.force)
    check_free(o.preview, "preview", o.force)
    check_free(preview_georeference(o.preview), "preview", o.force)
    for value, opt in ((o.report, "report"), (s.inputs.reference, "reference")):
        if value:
            raise InputError(f"--{opt} is not available with --tile; run gdd eval on the result")
    lr_reader, hr_reader = (WindowReader(s.inputs.spec(n), name=n, **s.inputs.read_options()) for n in s.inputs.names)
    readers = (lr_reader, hr_reader)
    lr_meta, hr_meta = lr_reader.meta, hr_reader.meta
    meta, nodata = output_meta(s, lr_meta, hr_meta), nodata_value(s, (lr_meta, hr_meta))
    check_output_type(s, masked=False, nodata=nodata, meta=meta, bands=lr_reader.shape[2])  # before any work
    windows = intersection(s, lr_meta, lr_reader.shape, hr_meta, hr_reader.shape)
    if windows is not None:
        print(windows_line(s, windows, lr_reader.shape, hr_reader.shape))
        lr_reader.crop(*windows[0])
        hr_reader.crop(*windows[1])
        lr_meta, hr_meta = lr_reader.meta, hr_reader.meta
    check_pair(s, lr_reader.shape, hr_reader.shape, lr_meta, hr_meta)
    s = with_response(s, lr_meta.wavelengths, lr_reader.shape[2])  # a response by wavelength, on the HS bands
    factor = s.inputs.factor
    h, w, _ = hr_reader.shape
    try:
        tiles = tile_grid(h, w, tile=tile, overlap=overlap, factor=factor)
    except ValueError as exc:
        raise InputError(f"--tile {tile} --overlap {overlap}: {exc}") from None
    device = torch.device(s.fit.device).type
    shape = (h, w, lr_reader.shape[2])
    options = {k: v for k, v in s.options if k not in s.unplanned}
    the_plan = plan(dict(s.inputs.files), options, shape, tile, overlap, device)
    store = TileStore(tile_folder(out), the_plan, force=o.force)
    resumed = store.resumed
    try:
        return _run_tiles(s, tiles, tile, overlap, readers, store, resumed=resumed, shape=shape)
    except BaseException:
        if not resumed and not any(store.done(t.index) for t in tiles):
            # Nothing to resume from: a run that failed before its first tile leaves no folder.
            shutil.rmtree(tile_folder(out), ignore_errors=True)
        raise


def _run_tiles(
    s: FuseSettings,
    tiles: list[Tile],
    tile: int,
    overlap: int,
    readers: tuple[WindowReader, WindowReader],
    store: TileStore,
    *,
    resumed: bool,
    shape: tuple[int, int, int],
) -> int:
    """:func:`run` once its tile store is open: decide on the central window, fit the tiles, blend."""
    o, out = s.outputs, s.outputs.out
    lr_reader, hr_reader = readers
    lr_meta, hr_meta = lr_reader.meta, hr_reader.meta
    factor = s.inputs.factor
    device = torch.device(s.fit.device).type
    estimates = Estimates()
    # The central window (or the nearest with data), read once for what is decided on it
    # (estimates, the check of the HS degradations, the pansharpening start).
    wants = any(s.degradation.wants(s.task))
    centre = (
        decision_window(readers, factor, CENTRAL_WINDOW, share=1.0 if wants else 0.5)
        if wants or s.task == "pan" or (s.task == "hs" and s.degradation.check)
        else None
    )
    central: tuple[Any, Any] | None = (
        None if centre is None else (lr_reader.read(*centre.window(factor)), hr_reader.read(*centre.window()))
    )
    if central is not None and wants:
        lr, hr = central
        # A resumed run writes the same estimates again over its own.
        estimates = estimate(
            s, to_tensor(lr.data), to_tensor(hr.data), masked=lr.mask is not None or hr.mask is not None,
            wavelengths=lr_meta.wavelengths, force=o.force or resumed,
        )  # fmt: skip
    checked: dict[str, object] = {}
    if central is not None:
        estimates, checked = _checked(s, central, estimates)
        if checked:
            where = (
                "the central window"
                if centre is None or centre == central_window(*shape[:2], factor, CENTRAL_WINDOW)
                else (
                    f"the window at rows {centre.row}:{centre.row + centre.height}, columns "
                    f"{centre.col}:{centre.col + centre.width} (the centre has too little data)"
                )
            )
            print(rule_line({"degradations": checked}) + f" (checked on {where}, used by every tile)")
    if s.task == "pan" and s.degradation.spatial == "auto":
        model = _model_choice(s, (lr_reader, hr_reader), estimates, tile) if _preset(s).holdout > 0 else "bicubic"
        s = replace(s, degradation=replace(s.degradation, spatial=model))
    start_options = _start_options(s, central, estimates) if central is not None else {}
    fuser = _Tiles(s, readers, estimates, **start_options)  # type: ignore[arg-type]
    if s.task == "pan" and s.degradation.tile_mixing == "shared":
        fuser.mixture = fuser.shared_mixture(store, decision_window(readers, factor, tile))
    first = _first_problem(fuser, tiles)  # bad options fail here, before any tile is fitted
    meta = output_meta(s, lr_meta, hr_meta)
    nodata = nodata_value(s, (lr_meta, hr_meta))  # the output type was checked before any work (run)
    todo = [t for t in tiles if not store.done(t.index)]
    bar = ProgressBar(len(tiles), quiet=o.quiet, unit="tile", initial=len(tiles) - len(todo))
    start = time.perf_counter()
    try:
        for t in todo:
            x, info = fuser.fit(t, overlap)
            store.save(t.index, x, info)
            bar.update(1)
    finally:
        bar.close()
    with StripWriter(
        out,
        shape,
        force=o.force,
        dtype=o.dtype,
        bit_depth=s.inputs.bit_depth,
        meta=meta,
        nodata=nodata,
        creation=o.creation,
        command=o.command,
    ) as writer:
        preview = blend(store, tiles, shape, overlap, writer)
    bands = preview_bands(preview.shape[-1], meta.wavelengths if meta is not None else None)
    k = preview_step(*shape[:2])  # the preview keeps every k-th pixel: its grid's pixels are k times larger
    shown = meta
    if meta is not None and k > 1:
        shown = replace(meta, transform=meta.transform and thinned(meta.transform, k),
                        sensor=meta.sensor and meta.sensor.thinned(k))  # fmt: skip
    write_preview(o.preview, np.nan_to_num(np.clip(preview, 0, None)), bands=bands, meta=shown,
                  stretch=s.task != "flash", mask=np.isfinite(preview).all(axis=-1))  # fmt: skip
    warn_of_inputs(s, lr_meta, hr_meta, (lr_reader.peak, hr_reader.peak))  # of the windows this run read
    wall = time.perf_counter() - start
    infos = [store.info(t.index) for t in tiles]
    empty = sum(bool(i.get("nodata")) for i in infos)
    fitted = len(todo) - sum(bool(store.info(t.index).get("nodata")) for t in todo)
    print(
        f"gdd {first.task}: {len(tiles)} tiles of at most {tile} x {tile} (overlap {overlap}), "
        f"{fitted} fitted in {wall:.1f} s on {device}"
        + (f", {len(tiles) - len(todo)} from an earlier run" if len(todo) < len(tiles) else "")
        + (f"; {empty} without data in both inputs, written as nodata" if empty else "")
    )
    print(f"wrote {out} and {o.preview}")
    peak = peak_memory(torch.device(s.fit.device))
    if peak is not None:
        kind = "allocated on the GPU" if device == "cuda" else "resident"
        print(f"peak memory: {peak / 2**30:.2f} GiB ({kind})")
    chosen = [str(i.get("chosen")) for i in infos if i.get("chosen")]
    if chosen:
        counts = ", ".join(f"{n} {k}" for k, n in sorted({c: chosen.count(c) for c in chosen}.items()))
        print(f"result per tile: {counts} (final, best, start k, mean: GDD's estimates; classic: the classic start)")
    if o.json:
        record = {
            "task": first.task, "output": str(out), "seconds": wall, "device": device, "tile": tile,
            "overlap": overlap, "peak_memory_bytes": peak, "tiles": infos,
            "settings": {
                **dict(s.options), **start_options, **({"degradations": checked} if checked else {}),
                **({"estimated": estimates.details} if estimates.details else {}),
            },
            "versions": {"gdd": __version__, "torch": torch.__version__},
        }  # fmt: skip
        write_json(o.json, record)
        print(f"wrote {o.json}")
    if not s.tiling.keep_tiles:
        store.remove()
    return 0
