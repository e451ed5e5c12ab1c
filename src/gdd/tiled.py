"""Fusing a scene in tiles from files: plan, fit each tile, resume, blend, write window by window.

``fuse_tiled(args, tile=, overlap=)`` is ``gdd hs|pan|flash --tile N`` once the command line is
parsed. The inputs are read window by window (:class:`gdd.io.WindowReader`), each finished
tile is saved in a folder beside the output (``.NAME.tiles/``) with the plan of the run, and
the result is blended strip by strip (:class:`gdd.io.StripWriter`). A run stopped at any point
and started again with the same command skips the tiles it has and writes the same bytes as
one that was never stopped; the folder is removed once the result is written.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .fusion import resolve_device
from .io import (
    InputError,
    StripWriter,
    WindowReader,
    atomic,
    check_output,
    from_tensor,
    split_spec,
    to_tensor,
    write_json,
    write_preview,
)
from .problems import ENSEMBLE, Problem, pan_start, solve
from .tiling import Tile, blend_weights, tile_grid

__all__ = ["TileStore", "blend", "fuse_tiled", "tile_folder"]

#: Options that change neither a tile's pixels nor the blend (they may differ on a resume); the
#: tile and overlap are in the plan as the sizes used, not as asked ("auto").
_NOT_IN_PLAN = {
    "out", "force", "quiet", "json", "report", "bands", "stretch", "pixel", "dtype", "keep_tiles", "tile", "overlap"
}  # fmt: skip
#: The smallest tile a tile that ran out of memory is split into.
MIN_TILE = 64


def tile_folder(out: str | os.PathLike[str]) -> Path:
    """The folder of a tiled run's finished tiles: ``.NAME.tiles`` beside the output ``NAME``."""
    p = Path(out)
    return p.with_name(f".{p.name}.tiles")


def _fingerprint(spec: str) -> dict[str, object]:
    path = split_spec(spec)[0]
    try:
        st = path.stat()
    except OSError:
        return {"file": str(spec)}
    return {"file": str(spec), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


class TileStore:
    """Finished tiles of one run on disk, each written atomically, with the run's plan.

    A folder that holds another run's tiles (another plan) is refused unless ``force``, which
    clears it.
    """

    def __init__(self, folder: Path, plan: dict[str, object], *, force: bool) -> None:
        self.folder = folder
        text = json.dumps(plan, sort_keys=True, default=str)
        plan_file = folder / "plan.json"
        if folder.exists():
            old = plan_file.read_text() if plan_file.exists() else ""
            if old != text:
                if not force:
                    raise InputError(
                        f"{folder} holds the tiles of another run (other inputs or options); use --force to start again"
                    )
                shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if not plan_file.exists():
            atomic(plan_file, lambda t: t.write_text(text))

    def _path(self, index: int, suffix: str = ".npy") -> Path:
        return self.folder / f"tile-{index:05d}{suffix}"

    def done(self, index: int) -> bool:
        return self._path(index).exists() and self._path(index, ".json").exists()

    def save(self, index: int, x: np.ndarray, info: dict[str, object]) -> None:
        atomic(self._path(index), lambda t: np.save(t, x))
        atomic(self._path(index, ".json"), lambda t: t.write_text(json.dumps(info, default=str)))

    def load(self, index: int) -> np.ndarray:
        return np.load(self._path(index), mmap_mode="r")

    def info(self, index: int) -> dict[str, Any]:
        return json.loads(self._path(index, ".json").read_text())  # type: ignore[no-any-return]

    def count(self) -> int:
        return sum(1 for _ in self.folder.glob("tile-*.json"))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _plan(
    args: argparse.Namespace, names: tuple[str, str], shape: tuple[int, int, int], tile: int, overlap: int, device: str
) -> dict[str, object]:
    options = {k: v for k, v in sorted(vars(args).items()) if k not in _NOT_IN_PLAN and not callable(v)}
    return {
        "gdd": __version__,
        "inputs": {n: _fingerprint(getattr(args, n)) for n in names},
        "options": options,
        "scene": list(shape),
        "tile": tile,
        "overlap": overlap,
        "device": device,
    }


def _split(tile: Tile, factor: int, overlap: int) -> tuple[int, int] | None:
    """Half the tile's side (a multiple of the factor) and an overlap that fits it, or None."""
    side = max(tile.height, tile.width) // 2 // factor * factor
    if side < max(MIN_TILE, factor):
        return None
    ov = min(overlap, (side // 2 - 1) // factor * factor)
    return side, max(ov, 0)


def preset_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The preset fields a fusion command line overrides (``solve(**...)``)."""
    pairs = (
        ("average_last", args.average_last),
        ("init", args.init),
        ("keep_best", args.keep_best),
        ("warm_start", args.warm_start),
        ("residual", args.residual),
    )
    overrides = {k: v for k, v in pairs if v is not None}
    if getattr(args, "ensemble", False):
        (init, warm, residual), *more = ENSEMBLE[args.command]
        # --init, --warm-start and --residual given with --ensemble change its first start.
        overrides = {"init": init, "warm_start": warm, "residual": residual, **overrides, "more_starts": tuple(more)}
    return overrides


def fast_settings(args: argparse.Namespace) -> dict[str, object]:
    """The fast-path switches asked for on the command line (``solve(fast=...)``)."""
    fast: dict[str, object] = {}
    if getattr(args, "channels_last", False):
        fast["channels_last"] = True
    if getattr(args, "amp", "off") != "off":
        fast["amp"] = args.amp
    if getattr(args, "compile", "off") != "off":
        fast["compile"] = args.compile
    if getattr(args, "fused_adam", False):
        fast["fused_adam"] = True
    if getattr(args, "no_running_stats", False):
        fast["running_stats"] = False
    if getattr(args, "lr_final", None) is not None:
        fast["lr_final"] = args.lr_final
    return fast


class _TileFuser:
    """Fit one tile (splitting it when the device runs out of memory)."""

    def __init__(
        self,
        args: argparse.Namespace,
        readers: tuple[WindowReader, WindowReader],
        factor: int,
        setup: Any,
        device: torch.device,
        budget: str | None,
        fast: dict[str, object] | None = None,
    ) -> None:
        self.args, self.readers, self.factor, self.setup = args, readers, factor, setup
        self.device, self.budget, self.fast = device, budget, fast

    def problem(self, tile: Tile) -> Problem:
        lr_reader, hr_reader = self.readers
        lr = lr_reader.read(*tile.window(self.factor))
        hr = hr_reader.read(*tile.window())
        lr_mask = None if lr.mask is None else torch.from_numpy(lr.mask)
        hr_mask = None if hr.mask is None else torch.from_numpy(hr.mask)
        return self.setup(self.args, to_tensor(lr.data), to_tensor(hr.data), lr_mask, hr_mask)  # type: ignore[no-any-return]

    def solve(self, problem: Problem) -> Any:
        args = self.args
        return solve(
            problem,
            device=str(self.device),
            seed=args.seed,
            budget=self.budget,  # type: ignore[arg-type]
            iterations=args.iterations,
            width=args.width,
            fast=self.fast or None,
            **preset_overrides(args),
        )

    def fit(self, tile: Tile, overlap: int) -> tuple[np.ndarray, dict[str, object]]:
        problem = self.problem(tile)
        try:
            result = self.solve(problem)
        except torch.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            smaller = _split(tile, self.factor, overlap)
            if smaller is None:
                raise InputError(
                    f"a {tile.height} x {tile.width} tile does not fit in the {self.device.type} memory "
                    f"and cannot be split further"
                ) from None
            side, ov = smaller
            print(
                f"gdd: tile {tile.index} ({tile.height} x {tile.width}) ran out of {self.device.type} memory; "
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
        return x, info

    def _fit_split(self, tile: Tile, side: int, overlap: int) -> tuple[np.ndarray, dict[str, object]]:
        sub = tile_grid(tile.height, tile.width, tile=side, overlap=overlap, factor=self.factor)
        num: np.ndarray | None = None
        den = np.zeros((tile.height, tile.width))
        parts = []
        for s in sub:
            moved = Tile(s.index, tile.row + s.row, tile.col + s.col, s.height, s.width)
            x, info = self.fit(moved, overlap)
            if num is None:
                num = np.zeros((tile.height, tile.width, x.shape[-1]))
            w = blend_weights(s, tile.height, tile.width, overlap=overlap)
            num[s.row : s.row + s.height, s.col : s.col + s.width] += w[..., None] * x
            den[s.row : s.row + s.height, s.col : s.col + s.width] += w
            parts.append(info)
        assert num is not None
        x = (num / den[..., None]).astype(np.float32)
        return x, {
            "index": tile.index,
            "window": [tile.row, tile.col, tile.height, tile.width],
            "seconds": sum(float(p["seconds"]) for p in parts),  # type: ignore[arg-type,misc]
            "split": parts,
        }


def _shared_mixture(fuser: _TileFuser, store: TileStore, centre: Tile, overlap: int) -> torch.Tensor:
    """The band mixture learned on the central tile, fitted once (kept with the tiles for a resume)."""
    path = store.folder / "mixture.npy"
    if path.exists():
        return torch.from_numpy(np.load(path))
    result = fuser.solve(fuser.problem(centre))
    learned = next(op.srf for op in result.operators if isinstance(getattr(op, "srf", None), torch.nn.Parameter))
    mixture = learned.detach().float().cpu()
    atomic(path, lambda t: np.save(t, mixture.numpy()))
    return mixture


def _peak_memory(device: torch.device) -> int | None:
    """Peak bytes of this process: allocated on the GPU, else resident (None where unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # macOS counts bytes, Linux KiB


def _strips(tiles: list[Tile]) -> list[tuple[int, int]]:
    edges = sorted({t.row for t in tiles} | {t.row + t.height for t in tiles})
    return list(itertools.pairwise(edges))


def blend(
    store: TileStore, tiles: list[Tile], shape: tuple[int, int, int], overlap: int, writer: StripWriter
) -> np.ndarray:
    """Blend the stored tiles strip by strip into ``writer``; return a preview (every k-th pixel)."""
    h, w, c = shape
    step = max(1, math.ceil(max(h, w) / 2048))
    preview = np.zeros((math.ceil(h / step), math.ceil(w / step), c), np.float32)
    for r0, r1 in _strips(tiles):
        num = np.zeros((r1 - r0, w, c))
        den = np.zeros((r1 - r0, w))
        for t in tiles:
            if t.row >= r1 or t.row + t.height <= r0:
                continue
            rows = slice(r0 - t.row, r1 - t.row)
            wt = blend_weights(t, h, w, overlap=overlap)[rows]
            num[:, t.col : t.col + t.width] += wt[..., None] * store.load(t.index)[rows]
            den[:, t.col : t.col + t.width] += wt
        strip = (num / den[..., None]).astype(np.float32)
        writer.put(r0, strip)
        first = -(-r0 // step) * step
        preview[first // step : -(-r1 // step)] = strip[first - r0 :: step, ::step]
    return preview


#: Where a pansharpening run keeps the band mixture shared by its tiles (``--tile-mixing shared``).
SHARED_MIXTURE = "_gdd_shared_mixture"

#: The side of the central window on which degradations asked to be estimated are estimated once
#: for every tile (``--srf estimate``, ``--blur estimate``, ``gdd pan --spatial estimate``).
ESTIMATE_WINDOW = 1024


def _central(h: int, w: int, factor: int, side: int) -> Tile:
    sh, sw = (min(side, n) // factor * factor for n in (h, w))
    return Tile(-1, (h - sh) // 2 // factor * factor, (w - sw) // 2 // factor * factor, sh, sw)


def fuse_tiled(
    args: argparse.Namespace,
    *,
    tile: int,
    overlap: int,
    setup: Any,
    output_meta: Any,
    names: tuple[str, str],
    prepare: Any = None,
    fast: dict[str, object] | None = None,
) -> int:
    """Fuse the scene of ``args`` in tiles of ``tile`` pixels overlapping by ``overlap``.

    ``setup(args, lr, hr, lr_mask, hr_mask)`` makes a tile's problem; ``prepare(args, lr, hr,
    masked, wavelengths)``, when given, runs once first on the central window of the scene (at
    most :data:`ESTIMATE_WINDOW` pixels a side): what it estimates is shared by every tile.
    ``fast``: the fast-path switches of ``solve``.
    """
    out = check_output(args.out, force=args.force)
    preview_path = out.with_name(out.stem + ".png")
    for path, what in ((preview_path, "preview"), (Path(args.json) if args.json else None, "json")):
        if path is not None and path.exists() and not args.force:
            raise InputError(f"{what} {path} exists; use --force to overwrite it")
    if args.dtype == "uint16" and args.bit_depth is not None and args.bit_depth > 16:
        raise InputError(f"a uint16 output holds at most 16 bits, not --bit-depth {args.bit_depth}")
    for opt in ("report", "reference"):
        if getattr(args, opt):
            raise InputError(f"--{opt} is not available with --tile; run gdd eval on the result")
    lr_name, hr_name = names
    opts = {"bit_depth": args.bit_depth, "layout": args.layout, "nodata": args.nodata}
    lr_reader = WindowReader(getattr(args, lr_name), name=lr_name, **opts)
    hr_reader = WindowReader(getattr(args, hr_name), name=hr_name, **opts)
    factor = int(getattr(args, "factor", None) or getattr(args, "ratio", None) or 1)
    (h, w, _), (lh, lw, _) = hr_reader.shape, lr_reader.shape
    if (lh * factor, lw * factor) != (h, w):
        raise InputError(
            f"{lr_name} {split_spec(getattr(args, lr_name))[0].name} is {lh} x {lw} and {hr_name} "
            f"{split_spec(getattr(args, hr_name))[0].name} {h} x {w}: the {hr_name} must be {factor} times larger"
        )
    lr_meta, hr_meta = lr_reader.meta, hr_reader.meta
    if lr_meta.crs and hr_meta.crs and lr_meta.crs != hr_meta.crs:
        raise InputError(f"{lr_name} and {hr_name} are in different coordinate systems; reproject one first")
    try:
        tiles = tile_grid(h, w, tile=tile, overlap=overlap, factor=factor)
    except ValueError as exc:
        raise InputError(f"--tile {tile} --overlap {overlap}: {exc}") from None
    device = resolve_device(args.device)
    shape = (h, w, lr_reader.shape[2])
    resumed = tile_folder(out).exists()
    store = TileStore(tile_folder(out), _plan(args, names, shape, tile, overlap, device.type), force=args.force)
    fuser = _TileFuser(args, (lr_reader, hr_reader), factor, setup, device, args.budget, fast)
    if prepare is not None:
        centre = _central(h, w, factor, ESTIMATE_WINDOW)
        lr, hr = lr_reader.read(*centre.window(factor)), hr_reader.read(*centre.window())
        # A resumed run writes the same estimates again over its own.
        again = argparse.Namespace(**{**vars(args), "force": args.force or resumed})
        prepare(again, to_tensor(lr.data), to_tensor(hr.data), lr.mask is not None or hr.mask is not None,
                lr_meta.wavelengths)  # fmt: skip
        args.__dict__.update({k: v for k, v in vars(again).items() if k != "force"})
    if args.command == "pan" and args.init in (None, "auto") and not getattr(args, "ensemble", False):
        # --init auto decides once, on the central window, so that every tile starts alike.
        centre = _central(h, w, factor, ESTIMATE_WINDOW)
        lr, hr = lr_reader.read(*centre.window(factor)), hr_reader.read(*centre.window())
        masks = {
            k: None if m.mask is None else torch.from_numpy(m.mask)[None, None] for k, m in (("ms", lr), ("pan", hr))
        }
        init, residual, _ = pan_start(
            to_tensor(lr.data), to_tensor(hr.data), factor, ms_mask=masks["ms"], pan_mask=masks["pan"]
        )
        args.init = init
        args.residual = residual if args.residual is None else args.residual
    if getattr(args, "tile_mixing", "per-tile") == "shared" and args.command == "pan":
        setattr(args, SHARED_MIXTURE, _shared_mixture(fuser, store, _central(h, w, factor, tile), overlap))
    first = fuser.problem(tiles[0])  # bad options fail here, before any tile is fitted
    meta = output_meta(args, first, {lr_name: lr_meta, hr_name: hr_meta}, out)
    nodata = (
        args.nodata
        if args.nodata is not None
        else next((m.nodata for m in (lr_meta, hr_meta) if m.nodata is not None), None)
    )
    todo = [t for t in tiles if not store.done(t.index)]
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(tiles), initial=len(tiles) - len(todo), unit="tile", file=sys.stderr, leave=False)
    start = time.perf_counter()
    try:
        for t in todo:
            x, info = fuser.fit(t, overlap)
            store.save(t.index, x, info)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    with StripWriter(
        out, shape, force=args.force, dtype=args.dtype, bit_depth=args.bit_depth, meta=meta, nodata=nodata
    ) as writer:
        preview = blend(store, tiles, shape, overlap, writer)
    write_preview(preview_path, np.nan_to_num(np.clip(preview, 0, None)))
    wall = time.perf_counter() - start
    infos = [store.info(t.index) for t in tiles]
    print(
        f"gdd {first.task}: {len(tiles)} tiles of at most {tile} x {tile} (overlap {overlap}), "
        f"{len(todo)} fitted in {wall:.1f} s on {device.type}"
        + (f", {len(tiles) - len(todo)} from an earlier run" if len(todo) < len(tiles) else "")
    )
    print(f"wrote {out} and {preview_path}")
    peak = _peak_memory(device)
    if peak is not None:
        kind = "allocated on the GPU" if device.type == "cuda" else "resident"
        print(f"peak memory: {peak / 2**30:.2f} GiB ({kind})")
    chosen = [str(i.get("chosen")) for i in infos if i.get("chosen")]
    if chosen:
        counts = ", ".join(f"{n} {k}" for k, n in sorted({c: chosen.count(c) for c in chosen}.items()))
        print(f"result per tile, chosen by the data objective: {counts} (final/best: GDD; classic: the classic start)")
    if args.json:
        write_json(
            Path(args.json),
            {
                "task": first.task,
                "output": str(out),
                "seconds": wall,
                "device": device.type,
                "tile": tile,
                "overlap": overlap,
                "peak_memory_bytes": peak,
                "tiles": infos,
                "settings": {k: v for k, v in vars(args).items() if not callable(v)},
                "versions": {"gdd": __version__, "torch": torch.__version__},
            },
        )
        print(f"wrote {args.json}")
    if not args.keep_tiles:
        store.remove()
    return 0
