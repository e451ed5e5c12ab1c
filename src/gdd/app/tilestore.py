"""The finished tiles of a tiled run on disk, with the run's plan, and their blend into the result.

Each finished tile is saved atomically in a folder beside the output (``.NAME.tiles/``) with the
plan of the run (inputs' fingerprints, the options that change the tiles, the grid); a run
started again with the same plan skips the tiles it has and writes the same bytes as one that
was never stopped. The result is blended strip by strip into a :class:`gdd.io.StripWriter`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..io import InputError, StripWriter, atomic, split_spec
from ..io.formats import _gdal_messages_kept_quiet, input_files
from ..tiles import Tile, blend_weights

__all__ = ["TileStore", "blend", "plan", "preview_step", "thinned", "tile_folder"]


def tile_folder(out: str | os.PathLike[str]) -> Path:
    """The folder of a tiled run's finished tiles: ``.NAME.tiles`` beside the output ``NAME``."""
    p = Path(out)
    return p.with_name(f".{p.name}.tiles")


def _gdal_files(path: Path) -> list[Path]:
    """The files GDAL reads to read ``path`` (itself, a VRT's sources, a mask file), where GDAL reads it."""
    if path.suffix.lower() in (".npy", ".npz", ".mat", ".hdr") or not path.is_file():
        return []
    try:
        import rasterio

        with warnings.catch_warnings(), _gdal_messages_kept_quiet():
            warnings.simplefilter("ignore")
            with rasterio.open(path) as src:
                files = [Path(f) for f in src.files if Path(f).is_file()]
    except Exception:  # not a file GDAL reads (or no rasterio): gdd's own reader reads it alone
        return []
    # Not what a viewer writes beside a file it shows (statistics in .aux.xml, pyramids in .ovr).
    return [f for f in files if not f.name.lower().endswith((".aux.xml", ".ovr"))]


def _fingerprint(spec: str) -> dict[str, object]:
    """An input as a resume knows it: where it is, its size and time, and a digest of its ends.

    Another scene of the same shape under the same name (in another folder, or unpacked with
    the same times) differs in its resolved path or its digest: its tiles are not this one's.
    A folder of band images and a list of band files are known by every file they hold.
    """
    path = split_spec(spec)[0]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
    elif path.exists() or "," not in str(path):
        # An ENVI image's header and data file; what GDAL reads for it (a VRT's sources, sidecars).
        files = list(dict.fromkeys([*input_files(path), *_gdal_files(path)]))
    else:
        files = [Path(part) for part in str(path).split(",")]  # a list of band files
    try:
        stats = [f.stat() for f in files]
        digest = hashlib.sha256()
        for part in files:
            with open(part, "rb") as f:
                digest.update(f.read(_SAMPLE))
                f.seek(max(0, os.fstat(f.fileno()).st_size - _SAMPLE))
                digest.update(f.read(_SAMPLE))
    except OSError:  # gone or unreadable: the run itself says so
        return {"file": str(spec)}
    return {
        "file": str(spec),
        "path": str(path.resolve()),
        "bytes": sum(st.st_size for st in stats),
        "mtime_ns": max((st.st_mtime_ns for st in stats), default=0),
        "ends": digest.hexdigest()[:16],
    }


#: Bytes read from each end of an input for its fingerprint.
_SAMPLE = 1 << 20


def _what_differs(old: str, plan: dict[str, object]) -> str:
    """What a stored plan and this run's differ in, for the message that refuses to resume."""
    try:
        before = json.loads(old)
    except ValueError:
        return "the tiles of another run"
    inputs, now = before.get("inputs", {}), plan.get("inputs", {})
    for name, fingerprint in now.items():  # type: ignore[attr-defined]
        earlier = inputs.get(name)
        if not earlier or earlier == fingerprint:
            continue
        if "ends" in fingerprint and "ends" not in earlier:
            return "the tiles of an earlier version of gdd, which knew its inputs otherwise"
        if earlier.get("path") and fingerprint.get("path") and earlier["path"] != fingerprint["path"]:
            return f"tiles made from another {name} file ({earlier['path']}, now {fingerprint['path']})"
        if earlier.get("file") == fingerprint.get("file"):
            return f"tiles made from an earlier {name} file: {fingerprint['file']} has changed since"
    return "the tiles of another run (other inputs or options)"


class TileStore:
    """Finished tiles of one run on disk, each written atomically, with the run's plan.

    A folder that holds another run's tiles (another plan) is refused unless ``force``, which
    clears it.
    """

    def __init__(self, folder: Path, plan: dict[str, object], *, force: bool) -> None:
        self.folder = folder
        text = json.dumps(plan, sort_keys=True, default=str)
        plan_file = folder / "plan.json"
        self.resumed = folder.exists()
        """Whether the folder was left by a run of this plan (its tiles and files are this run's)."""
        if folder.exists():
            old = plan_file.read_text() if plan_file.exists() else ""
            if old != text:
                self.resumed = False
                # A folder without a finished tile (a run stopped before its first) holds nothing to lose.
                if not force and any(folder.glob("tile-*.json")):
                    raise InputError(f"{folder} holds {_what_differs(old, plan)}; use --force to start again")
                shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if not plan_file.exists():
            atomic(plan_file, lambda t: t.write_text(text))

    def _path(self, index: int, suffix: str = ".npy") -> Path:
        return self.folder / f"tile-{index:05d}{suffix}"

    def done(self, index: int) -> bool:
        return self._path(index).exists() and self._path(index, ".json").exists()

    def save(self, index: int, x: np.ndarray, info: dict[str, object]) -> None:
        try:
            atomic(self._path(index), lambda t: np.save(t, x))
            atomic(self._path(index, ".json"), lambda t: t.write_text(json.dumps(info, default=str)))
        except OSError as exc:  # NumPy's "problem writing element ..." says neither the file nor why
            raise InputError(
                f"tiles {self.folder}: tile {index} could not be saved ({exc.strerror or exc}); is the disk full?"
            ) from None

    def load(self, index: int) -> np.ndarray:
        return np.load(self._path(index), mmap_mode="r")

    def info(self, index: int) -> dict[str, Any]:
        return json.loads(self._path(index, ".json").read_text())  # type: ignore[no-any-return]

    def count(self) -> int:
        return sum(1 for _ in self.folder.glob("tile-*.json"))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def plan(
    files: dict[str, str], options: dict[str, object], shape: tuple[int, int, int], tile: int, overlap: int, device: str
) -> dict[str, object]:
    """The plan of a tiled run: what must be the same for a resume to go on with the stored tiles."""
    return {
        "gdd": __version__,
        "inputs": {n: _fingerprint(spec) for n, spec in files.items()},
        "options": options,
        "scene": list(shape),
        "tile": tile,
        "overlap": overlap,
        "device": device,
    }


def _strips(tiles: list[Tile]) -> list[tuple[int, int]]:
    edges = sorted({t.row for t in tiles} | {t.row + t.height for t in tiles})
    return list(itertools.pairwise(edges))


def preview_step(height: int, width: int) -> int:
    """The preview of a tiled scene keeps every k-th pixel, k this: at most 2048 pixels a side."""
    return max(1, math.ceil(max(height, width) / 2048))


def thinned(transform: tuple[float, ...], k: int) -> tuple[float, ...]:
    """The affine transform of every k-th pixel of a grid (pixels 0, k, 2k ...) as pixels k times larger.

    Each larger pixel is centred on the pixel it keeps: the origin moves back by (k - 1) / 2 pixels.

    Example:
        >>> thinned((10.0, 0.0, 500000.0, 0.0, -10.0, 4e6), 4)
        (40.0, 0.0, 499985.0, 0.0, -40.0, 4000015.0)
    """
    a, b, c, d, e, f = transform[:6]
    back = (k - 1) / 2
    return (a * k, b * k, c - back * (a + b), d * k, e * k, f - back * (d + e))


def blend(
    store: TileStore, tiles: list[Tile], shape: tuple[int, int, int], overlap: int, writer: StripWriter
) -> np.ndarray:
    """Blend the stored tiles strip by strip into ``writer``; return a preview (every k-th pixel)."""
    h, w, c = shape
    step = preview_step(h, w)
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
