"""Tiled fusion: the grid, the blend, windowed files, memory checks, out-of-memory splits, resume."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gdd.app import TileStore, blend, estimate_memory, largest_tile, tile_folder
from gdd.cli import main
from gdd.io import StripWriter, WindowReader, read_raster
from gdd.tiles import Tile, blend_weights, tile_grid

FAST = ["--iterations", "3", "--width", "8", "--quiet"]


def _pair(tmp_path: Path, size: int = 96, bands: int = 3, ratio: int = 4, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    pan = (0.5 + 0.25 * np.sin(6 * xx + 3 * yy) + 0.05 * rng.random((size, size))).astype(np.float32)
    ms = rng.random((size // ratio, size // ratio, bands)).astype(np.float32)
    np.save(tmp_path / "pan.npy", pan)
    np.save(tmp_path / "ms.npy", ms)
    return tmp_path / "ms.npy", tmp_path / "pan.npy"


@pytest.mark.parametrize(
    ("h", "w", "tile", "overlap", "factor"), [(100, 60, 64, 16, 4), (96, 96, 32, 8, 4), (37, 53, 16, 5, 1)]
)
def test_the_grid_covers_the_scene_with_at_least_the_overlap(
    h: int, w: int, tile: int, overlap: int, factor: int
) -> None:
    tiles = tile_grid(h, w, tile=tile, overlap=overlap, factor=factor)
    cover = np.zeros((h, w), int)
    for t in tiles:
        assert t.row % factor == 0 and t.col % factor == 0
        assert t.row + t.height <= h and t.col + t.width <= w
        cover[t.row : t.row + t.height, t.col : t.col + t.width] += 1
    assert cover.min() >= 1
    rows = sorted({t.row for t in tiles})
    for a, b in itertools.pairwise(rows):
        assert a + min(tile, h) - b >= overlap


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tile": 30, "overlap": 4, "factor": 4}, "multiple of the factor"),
        ({"tile": 32, "overlap": 16, "factor": 4}, "less than half"),
        ({"tile": 32, "overlap": 3, "factor": 4}, "overlap must be"),
    ],
)
def test_the_grid_refuses_bad_sizes(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tile_grid(64, 64, **kwargs)


def test_weights_fall_towards_inner_edges_only() -> None:
    tiles = tile_grid(64, 64, tile=40, overlap=16)
    first = blend_weights(tiles[0], 64, 64, overlap=16)
    assert first[0, 0] == 1.0 and first[-1, -1] < 0.01 and first.min() > 0
    assert np.all(np.diff(first[0, 20:]) <= 0)  # falls smoothly towards the inner edge


class _Store:
    def __init__(self, tiles: list[np.ndarray]) -> None:
        self.tiles = tiles

    def load(self, index: int) -> np.ndarray:
        return self.tiles[index]


class _Collect:
    def __init__(self, shape: tuple[int, int, int]) -> None:
        self.out = np.full(shape, -1.0, np.float32)

    def put(self, row: int, strip: np.ndarray) -> None:
        self.out[row : row + len(strip)] = strip


def test_blending_the_tiles_of_an_image_gives_the_image_back() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((72, 88, 2)).astype(np.float32)
    tiles = tile_grid(72, 88, tile=32, overlap=8, factor=4)
    store = _Store([image[t.row : t.row + t.height, t.col : t.col + t.width] for t in tiles])
    sink = _Collect(image.shape)
    preview = blend(store, tiles, image.shape, 8, sink)  # type: ignore[arg-type]
    assert np.abs(sink.out - image).max() < 1e-6
    assert np.array_equal(preview, sink.out)


def test_blending_leaves_no_step_where_tiles_disagree() -> None:
    # Two tiles with different constant values: the blend goes from one to the other through
    # the overlap in small steps, not in one jump.
    tiles = tile_grid(16, 64, tile=40, overlap=16)
    store = _Store([np.full((t.height, t.width, 1), float(i), np.float32) for i, t in enumerate(tiles)])
    sink = _Collect((16, 64, 1))
    blend(store, tiles, (16, 64, 1), 16, sink)  # type: ignore[arg-type]
    row = sink.out[0, :, 0]
    assert row[0] == 0 and row[-1] == 1 and (np.diff(row) >= 0).all()
    # The steepest step is the raised cosine's over the 16-pixel overlap, pi / 32 (an overlap
    # ramp half as long would double it).
    assert np.abs(np.diff(row)).max() <= np.pi / 32 + 1e-6


def test_window_reader_matches_the_whole_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    cube = (rng.random((3, 40, 40)) * 65535).astype(np.uint16)  # C x H x W, bands first
    np.save(tmp_path / "c.npy", cube)
    reader = WindowReader(tmp_path / "c.npy", name="ms")
    whole = read_raster(tmp_path / "c.npy")
    assert reader.shape == (40, 40, 3)
    assert np.array_equal(reader.read(slice(8, 24), slice(4, 36)).data, whole.data[8:24, 4:36])


def test_window_reader_reads_geotiff_windows(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import Affine

    data = np.random.default_rng(2).random((2, 32, 48)).astype(np.float32)
    with rasterio.open(
        tmp_path / "g.tif", "w", driver="GTiff", height=32, width=48, count=2, dtype="float32",
        crs="EPSG:32633", transform=Affine(2.0, 0, 500000, 0, -2.0, 4100000),
    ) as dst:  # fmt: skip
        dst.write(data)
    reader = WindowReader(tmp_path / "g.tif")
    assert reader.shape == (32, 48, 2) and reader.meta.crs and reader.meta.transform[0] == 2.0
    assert np.array_equal(reader.read(slice(4, 20), slice(10, 30)).data, data[:, 4:20, 10:30].transpose(1, 2, 0))


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".mat"])
def test_strip_writer_writes_strips_atomically(tmp_path: Path, suffix: str) -> None:
    image = np.random.default_rng(3).random((20, 12, 2)).astype(np.float32)
    out = tmp_path / f"out{suffix}"
    with StripWriter(out, image.shape) as w:
        w.put(10, image[10:])
        w.put(0, image[:10])
        assert not out.exists()  # not there until complete
    assert np.array_equal(read_raster(out).data, image)
    with pytest.raises(RuntimeError), StripWriter(tmp_path / f"broken{suffix}", image.shape) as w:
        w.put(0, image[:5])
        raise RuntimeError("stopped")
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_a_result_written_in_strips_warns_of_what_it_clipped_once(tmp_path: Path, suffix: str, capsys) -> None:  # type: ignore[no-untyped-def]
    image = np.full((20, 12, 2), 0.5, np.float32)
    image[3, 4, 0] = image[15, 2, 1] = image[16, 2, 1] = 1.5  # above what uint16 holds at 16 bits
    out = tmp_path / f"out{suffix}"
    with StripWriter(out, image.shape, dtype="uint16") as w:
        for row in range(0, 20, 5):
            w.put(row, image[row : row + 5])
        assert capsys.readouterr().err == ""  # said for the file, when it is written
    err = capsys.readouterr().err
    assert err.count("gdd: warning:") == 1 and "3 of 480 values of the result lie outside" in err, err
    assert read_raster(out).data.max() == 1.0


def _seam_ratio(x: np.ndarray, tiles: list[Tile], factor: int) -> float:
    """The largest jump across a tile border over the largest across the other low-resolution pixel borders.

    The jump across row border b is the mean of |x[b] - x[b - 1]| (and likewise for columns). Tile
    borders lie on multiples of the ratio, where the low-resolution pixels' borders make every
    jump a little larger, so they are compared with the other multiples of the ratio only. An
    unblended or misplaced tile makes its borders the largest jumps in the image.
    """
    ratios = []
    for axis in (0, 1):
        n = x.shape[axis]
        jump = np.abs(np.diff(x, axis=axis)).mean(axis=(1 - axis, 2))  # jump[b - 1]: across border b
        starts = {t.row if axis == 0 else t.col for t in tiles}
        sizes = {(t.row + t.height) if axis == 0 else (t.col + t.width) for t in tiles}
        borders = {b for b in starts | sizes if 0 < b < n}
        others = [jump[b - 1] for b in range(factor, n, factor) if b not in borders]
        ratios.append(max(jump[b - 1] for b in borders) / max(others))
    return max(ratios)


def test_tiled_fusion_writes_a_seamless_result_and_cleans_up(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ms, pan = _pair(tmp_path)
    out = tmp_path / "x.npy"
    argv = ["pan", "--ms", str(ms), "--pan", str(pan), "--ratio", "4", "--out", str(out), "--tile", "48",
            "--overlap", "12", *FAST]  # fmt: skip
    assert main(argv) == 0
    assert "9 tiles of at most 48 x 48 (overlap 12)" in capsys.readouterr().out
    x = np.load(out)
    assert x.shape == (96, 96, 3) and np.isfinite(x).all()
    # No seam: the tiles' borders are no larger jumps than the other pixel borders (0.96 when
    # written; the tiles averaged without the blending weights give 1.6, pasted 2.3).
    assert _seam_ratio(x, tile_grid(96, 96, tile=48, overlap=12, factor=4), 4) < 1.15
    assert not tile_folder(out).exists()
    assert (tmp_path / "x.png").exists()


def test_a_tile_without_data_is_written_as_nodata_and_the_others_are_fitted(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # A scene whose top-left corner has no data (a swath's edge): the first tile lies in it.
    ms_path, pan_path = _pair(tmp_path, size=64)
    ms, pan = np.load(ms_path), np.load(pan_path)
    ms[:8, :8], pan[:32, :32] = np.nan, np.nan
    np.save(ms_path, ms), np.save(pan_path, pan)
    out = tmp_path / "x.npy"
    argv = ["pan", "--ms", str(ms_path), "--pan", str(pan_path), "--ratio", "4", "--out", str(out), "--tile", "32",
            "--overlap", "4", "--nodata", "nan", "--json", str(tmp_path / "x.json"), *FAST]  # fmt: skip
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "9 tiles of at most 32 x 32 (overlap 4), 8 fitted" in said and "1 without data in both inputs" in said
    x = np.load(out)
    assert np.isnan(x[:32, :32]).all() and np.isfinite(x[32:]).all() and np.isfinite(x[:, 32:]).all()
    tiles = json.loads((tmp_path / "x.json").read_text())["tiles"]
    assert [t["index"] for t in tiles if t.get("nodata")] == [0]


def test_a_tile_with_a_few_observed_pixels_is_fitted_without_held_out_pixels(tmp_path: Path) -> None:
    # A swath's corner: the MS has data in 3 x 3 of its pixels only, too few to hold two out at 10 %.
    ms_path, pan_path = _pair(tmp_path, size=64)
    ms = np.load(ms_path)
    ms[3:], ms[:, 3:] = np.nan, np.nan
    np.save(ms_path, ms)
    out = tmp_path / "x.npy"
    argv = ["pan", "--ms", str(ms_path), "--pan", str(pan_path), "--ratio", "4", "--out", str(out), "--tile", "32",
            "--overlap", "4", "--nodata", "nan", "--json", str(tmp_path / "x.json"), *FAST]  # fmt: skip
    assert main(argv) == 0
    tiles = json.loads((tmp_path / "x.json").read_text())["tiles"]
    fitted = [t for t in tiles if not t.get("nodata")]
    assert [t["index"] for t in fitted] == [0] and fitted[0]["holdout"] == 0.0
    x = np.load(out)
    assert np.isfinite(x[:12, :12]).all() and np.isnan(x[12:]).all()


def test_what_the_tiles_share_is_decided_on_data_when_the_centre_has_none(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from gdd.app.decision import decision_window

    # A lake masked out in the middle of the scene: the central 32 x 32 window has no data.
    ms_path, pan_path = _pair(tmp_path, size=64)
    ms, pan = np.load(ms_path), np.load(pan_path)
    ms[4:12, 4:12], pan[16:48, 16:48] = np.nan, np.nan
    np.save(ms_path, ms), np.save(pan_path, pan)
    readers = (
        WindowReader(ms_path, name="ms", nodata=float("nan")),
        WindowReader(pan_path, name="pan", nodata=float("nan")),
    )
    window = decision_window(readers, 4, 32)
    valid = np.isfinite(pan[window.row : window.row + 32, window.col : window.col + 32])
    assert (window.height, window.width) == (32, 32) and valid.mean() >= 0.5
    # The nearest such window: origins every 16 pixels, the centre's at (16, 16).
    assert abs(window.row - 16) + abs(window.col - 16) == 16
    out = tmp_path / "x.npy"
    argv = ["pan", "--ms", str(ms_path), "--pan", str(pan_path), "--ratio", "4", "--out", str(out), "--tile", "32",
            "--overlap", "4", "--nodata", "nan", *FAST]  # fmt: skip
    assert main(argv) == 0  # it stopped: "every pixel is nodata" in the central tile
    x = np.load(out)
    assert np.isnan(x[16:48, 16:48]).all() and np.isfinite(x[:16]).all()


def test_a_tile_as_large_as_the_scene_is_one_fit(tmp_path: Path) -> None:
    ms, pan = _pair(tmp_path, size=32)
    common = ["pan", "--ms", str(ms), "--pan", str(pan), "--ratio", "4", *FAST]
    assert main([*common, "--out", str(tmp_path / "a.npy"), "--tile", "none"]) == 0
    assert main([*common, "--out", str(tmp_path / "b.npy"), "--tile", "64"]) == 0
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_tiled_geotiff_keeps_the_georeferencing(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import Affine

    ms_path, pan_path = _pair(tmp_path, size=64)
    pan, ms = np.load(pan_path), np.load(ms_path)
    for path, arr, step in ((tmp_path / "pan.tif", pan[None], 0.5), (tmp_path / "ms.tif", ms.transpose(2, 0, 1), 2.0)):
        with rasterio.open(
            path, "w", driver="GTiff", height=arr.shape[1], width=arr.shape[2], count=arr.shape[0],
            dtype="float32", crs="EPSG:32633", transform=Affine(step, 0, 500000, 0, -step, 4100000),
        ) as dst:  # fmt: skip
            dst.write(arr)
    out = tmp_path / "fused.tif"
    argv = ["pan", "--ms", str(tmp_path / "ms.tif"), "--pan", str(tmp_path / "pan.tif"), "--ratio", "4",
            "--out", str(out), "--tile", "32", "--overlap", "8", *FAST]  # fmt: skip
    assert main(argv) == 0
    with rasterio.open(out) as f:
        assert f.crs.to_epsg() == 32633 and f.transform == Affine(0.5, 0, 500000, 0, -0.5, 4100000)
        assert f.count == 3 and (f.height, f.width) == (64, 64)


def test_a_scene_that_does_not_fit_is_refused_with_a_tile_size(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    ms, pan = _pair(tmp_path, size=64)
    free = estimate_memory("pan", 40, 40, channels=8)
    monkeypatch.setattr("gdd.app.driver.available_memory", lambda device: free / 0.8)
    argv = ["pan", "--ms", str(ms), "--pan", str(pan), "--ratio", "4", *FAST]
    assert main([*argv, "--out", str(tmp_path / "x.npy"), "--tile", "none"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "fuse it in tiles: --tile" in err
    assert not (tmp_path / "x.npy").exists()
    # auto: the largest tile that fits.
    assert main([*argv, "--out", str(tmp_path / "y.npy")]) == 0
    assert "fusing in tiles of" in capsys.readouterr().out


def test_largest_tile_fits_the_memory() -> None:
    side = largest_tile("pan", 2**30, factor=4)
    assert estimate_memory("pan", side, side) <= 2**30 < estimate_memory("pan", side + 16, side + 16)


def test_a_tile_that_runs_out_of_memory_is_split(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import gdd.app.tiled

    real = gdd.app.tiled.solve

    def small_only(problem, **kwargs):  # type: ignore[no-untyped-def]
        if problem.guide.shape[-1] > 64:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(problem, **kwargs)

    monkeypatch.setattr(gdd.app.tiled, "solve", small_only)
    monkeypatch.setattr(gdd.app.tiled, "MIN_TILE", 16)
    ms, pan = _pair(tmp_path, size=128)
    out = tmp_path / "x.npy"
    argv = ["pan", "--ms", str(ms), "--pan", str(pan), "--ratio", "4", "--out", str(out), "--tile", "128",
            "--overlap", "16", "--tile", "96", *FAST]  # fmt: skip
    assert main(argv) == 0
    assert "ran out of cpu memory; fusing it as tiles of 48 x 48" in capsys.readouterr().err
    x = np.load(out)
    assert x.shape == (128, 128, 3) and np.isfinite(x).all()
    # No seam at the borders of the tiles or of the halves they were split into (0.88 when
    # written; the halves averaged without the blending weights give 1.24).
    halves = [
        Tile(0, t.row + s.row, t.col + s.col, s.height, s.width)
        for t in tile_grid(128, 128, tile=96, overlap=16, factor=4)
        for s in tile_grid(96, 96, tile=48, overlap=16, factor=4)
    ]
    assert _seam_ratio(x, halves, 4) < 1.15


def test_another_runs_tiles_are_not_mixed_in(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ms, pan = _pair(tmp_path, size=64)
    out = tmp_path / "x.npy"
    argv = ["pan", "--ms", str(ms), "--pan", str(pan), "--ratio", "4", "--out", str(out), "--tile", "32",
            "--overlap", "8", "--keep-tiles", *FAST]  # fmt: skip
    assert main(argv) == 0
    out.unlink()
    (tmp_path / "x.png").unlink()
    assert main([*argv, "--seed", "1"]) == 1
    assert "holds the tiles of another run" in capsys.readouterr().err
    assert main([*argv, "--seed", "1", "--force"]) == 0


def test_tile_store_refuses_another_plan(tmp_path: Path) -> None:
    TileStore(tmp_path / "t", {"a": 1}, force=False).save(0, np.zeros((2, 2, 1), np.float32), {"seconds": 1})
    assert TileStore(tmp_path / "t", {"a": 1}, force=False).done(0)
    with pytest.raises(ValueError, match="another run"):
        TileStore(tmp_path / "t", {"a": 2}, force=False)
    assert not TileStore(tmp_path / "t", {"a": 2}, force=True).done(0)


def test_a_scene_like_another_in_name_size_and_time_is_not_taken_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gdd.app.tilestore import plan

    rng = np.random.default_rng(8)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        np.save(tmp_path / folder / "ms.npy", rng.random((8, 8, 3)).astype(np.float32))
        os.utime(tmp_path / folder / "ms.npy", ns=(10**18, 10**18))  # unpacked with the same times
    store = tmp_path / "t"

    def open_store(folder: str) -> TileStore:  # the same command, run in the folder
        monkeypatch.chdir(tmp_path / folder)
        return TileStore(store, plan({"ms": "ms.npy"}, {}, (8, 8, 3), 32, 8, "cpu"), force=False)

    open_store("a").save(0, np.zeros((2, 2, 1), np.float32), {"seconds": 1})
    assert open_store("a").done(0)
    with pytest.raises(ValueError, match="tiles made from another ms file"):
        open_store("b")  # the same name, size and time, in another folder
    # The same file rewritten in place with other pixels and its old time.
    np.save(tmp_path / "a" / "ms.npy", rng.random((8, 8, 3)).astype(np.float32))
    os.utime(tmp_path / "a" / "ms.npy", ns=(10**18, 10**18))
    with pytest.raises(ValueError, match=r"earlier ms file: ms\.npy has changed since"):
        open_store("a")


def test_a_folder_of_bands_is_known_by_its_files_and_an_older_record_is_named(tmp_path: Path) -> None:
    from gdd.app.tilestore import _fingerprint, _what_differs, plan

    (tmp_path / "cube").mkdir()
    for i in range(3):
        np.save(tmp_path / "cube" / f"b{i}.npy", np.full((4, 4), i, np.float32))
    before = _fingerprint(str(tmp_path / "cube"))
    np.save(tmp_path / "cube" / "b1.npy", np.full((4, 4), 7, np.float32))
    assert {"path", "ends"} <= set(before) and _fingerprint(str(tmp_path / "cube"))["ends"] != before["ends"]
    now = plan({"hsi": str(tmp_path / "cube")}, {}, (4, 4, 3), 32, 8, "cpu")
    older = json.loads(json.dumps(now))
    del older["inputs"]["hsi"]["ends"], older["inputs"]["hsi"]["path"]
    assert "an earlier version of gdd" in _what_differs(json.dumps(older), now)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_a_vrt_is_known_by_the_files_gdal_reads_for_it(tmp_path: Path) -> None:
    """A VRT's source rewritten under it changes its fingerprint: its tiles are not taken for this scene's."""
    rasterio = pytest.importorskip("rasterio")
    from gdd.app.tilestore import _fingerprint

    a = np.random.default_rng(2).random((1, 16, 16)).astype(np.float32)
    with rasterio.open(tmp_path / "src.tif", "w", driver="GTiff", width=16, height=16, count=1, dtype="float32") as d:
        d.write(a)
    (tmp_path / "ms.vrt").write_text(
        '<VRTDataset rasterXSize="16" rasterYSize="16"><VRTRasterBand dataType="Float32" band="1"><SimpleSource>'
        '<SourceFilename relativeToVRT="1">src.tif</SourceFilename><SourceBand>1</SourceBand></SimpleSource>'
        "</VRTRasterBand></VRTDataset>"
    )
    before = _fingerprint(str(tmp_path / "ms.vrt"))
    # Statistics a viewer writes beside the file (QGIS, gdalinfo -stats) are not a change of it.
    (tmp_path / "src.tif.aux.xml").write_text(
        "<PAMDataset><PAMRasterBand band='1'><Metadata><MDI "
        "key='STATISTICS_MEAN'>0.5</MDI></Metadata></PAMRasterBand></PAMDataset>"
    )
    assert _fingerprint(str(tmp_path / "ms.vrt")) == before
    with rasterio.open(tmp_path / "src.tif", "r+") as d:
        d.write(a / 2)
    assert _fingerprint(str(tmp_path / "ms.vrt"))["ends"] != before["ends"]


def test_a_tile_folder_without_a_finished_tile_is_started_again(tmp_path: Path) -> None:
    """A run stopped before its first tile (SIGKILL: no clean-up) leaves only its plan: nothing to keep."""
    TileStore(tmp_path / "t", {"a": 1}, force=False)
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["plan.json"]
    assert TileStore(tmp_path / "t", {"a": 2}, force=False).count() == 0
    assert json.loads((tmp_path / "t" / "plan.json").read_text()) == {"a": 2}


def test_a_killed_run_resumed_gives_the_same_bytes(tmp_path: Path) -> None:
    ms, pan = _pair(tmp_path, size=96)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def argv(out: Path) -> list[str]:
        return [sys.executable, "-m", "gdd", "pan", "--ms", str(ms), "--pan", str(pan), "--ratio", "4",
                "--out", str(out), "--tile", "48", "--overlap", "12", "--iterations", "30", "--width", "8",
                "--quiet"]  # fmt: skip

    whole = tmp_path / "whole.npy"
    subprocess.run(argv(whole), check=True, env=env, capture_output=True)
    resumed = tmp_path / "resumed.npy"
    proc = subprocess.Popen(argv(resumed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = tile_folder(resumed)
    deadline = time.monotonic() + 120
    while not list(folder.glob("tile-*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(folder.glob("tile-*.json")))
    assert 1 <= done < 9 and not resumed.exists()
    run = subprocess.run(argv(resumed), check=True, env=env, capture_output=True, text=True)
    assert f"{9 - done} fitted" in run.stdout and f"{done} from an earlier run" in run.stdout
    assert resumed.read_bytes() == whole.read_bytes()
    assert not folder.exists()


def test_tile_windows_on_the_low_resolution_grid() -> None:
    t = Tile(0, 8, 16, 32, 24)
    assert t.window(4) == (slice(2, 10), slice(4, 10))


def test_one_fit_that_runs_out_of_memory_falls_back_to_tiles(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import gdd.app.whole

    def no_memory(problem, **kwargs):  # type: ignore[no-untyped-def]
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(gdd.app.whole, "solve", no_memory)
    ms, pan = _pair(tmp_path, size=64)
    argv = ["pan", "--ms", str(ms), "--pan", str(pan), "--ratio", "4", *FAST]
    assert main([*argv, "--out", str(tmp_path / "x.npy")]) == 0
    captured = capsys.readouterr()
    assert "ran out of memory; fusing in tiles of 32" in captured.err
    assert np.load(tmp_path / "x.npy").shape == (64, 64, 3)
    # Asked for one fit, it says so instead.
    assert main([*argv, "--out", str(tmp_path / "y.npy"), "--tile", "none"]) == 1
    assert "ran out of memory" in capsys.readouterr().err and not (tmp_path / "y.npy").exists()


def test_auto_goes_on_with_the_tiles_of_an_interrupted_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ms, pan = _pair(tmp_path, size=64)
    out = tmp_path / "x.npy"
    argv = ["pan", "--ms", str(ms), "--pan", str(pan), "--ratio", "4", "--out", str(out), *FAST]
    assert main([*argv, "--tile", "32", "--overlap", "8", "--keep-tiles"]) == 0
    first = np.load(out)
    out.unlink()
    (tmp_path / "x.png").unlink()
    capsys.readouterr()
    assert main(argv) == 0  # --tile auto would fit in one piece; the stored tiles win
    assert "0 fitted" in capsys.readouterr().out
    assert np.array_equal(np.load(out), first) and not tile_folder(out).exists()


def test_tiles_share_degradations_estimated_once(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from gdd.simulate import simulate_hs

    gen = np.random.default_rng(5)
    spectra = gen.random((12, 8))
    abundances = gen.random((96, 96, 12))
    cube = (abundances @ spectra / 6).astype(np.float32)
    t = np.linspace(0, 1, 8)
    srf = np.stack([np.exp(-(((t - m) / 0.2) ** 2)) for m in (0.2, 0.5, 0.8)])
    case = simulate_hs(cube, factor=4, srf=srf / srf.sum(1, keepdims=True), spatial="gaussian")
    np.save(tmp_path / "hsi.npy", case["hsi"])
    np.save(tmp_path / "rgb.npy", case["msi"])
    out = tmp_path / "fused.npy"
    argv = ["hs", "--hsi", str(tmp_path / "hsi.npy"), "--guide", str(tmp_path / "rgb.npy"), "--factor", "4",
            "--srf", "estimate", "--blur", "estimate", "--out", str(out), "--tile", "48", "--overlap", "8",
            "--keep-tiles", "--json", str(tmp_path / "run.json"), *FAST]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.count("estimated response 3 x 8") == 1 and "9 tiles" in text
    # The record holds the options as given, not the estimates (a tiled run with estimates and --json
    # once failed after writing its result, on tensors it could not write as JSON).
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["settings"]["srf"] == "estimate" and len(record["tiles"]) == 9
    (tmp_path / "run.json").unlink()
    estimated = np.loadtxt(tmp_path / "fused.srf.csv", delimiter=",", skiprows=1)
    assert np.abs(estimated.T - srf / srf.sum(1, keepdims=True)).max() < 1e-3  # noise-free: 3e-6 when written
    # Resumed, it estimates again and writes its own estimates over the first ones.
    out.unlink()
    (tmp_path / "fused.png").unlink()
    assert main(argv) == 0
    assert "0 fitted" in capsys.readouterr().out


def test_tiles_can_share_the_pan_band_mixture(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import gdd.app.tiled

    mixtures = []
    real = gdd.app.tiled.solve

    def spy(problem, **kwargs):  # type: ignore[no-untyped-def]
        result = real(problem, **kwargs)
        mixtures.append(next(op.srf.detach().clone() for op in result.operators if hasattr(op, "srf")))
        return result

    ms, pan = _pair(tmp_path, size=64)
    argv = ["pan", "--ms", str(ms), "--pan", str(pan), "--ratio", "4", "--tile", "32", "--overlap", "8", *FAST,
            "--warm-start", "0", "--spatial", "bicubic"]  # fmt: skip
    with pytest.MonkeyPatch.context() as m:
        m.setattr(gdd.app.tiled, "solve", spy)
        shared = ["--out", str(tmp_path / "shared.npy"), "--tile-mixing", "shared", "--json", str(tmp_path / "s.json")]
        assert main([*argv, *shared]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["settings"]["tile_mixing"] == "shared"
    # One fit on the central tile learns it, then every tile keeps it.
    assert len(mixtures) == 10 and all(torch.equal(m, mixtures[0]) for m in mixtures[1:])
    assert not torch.equal(mixtures[0], torch.diag(torch.diag(mixtures[0])))  # it was learned
    mixtures.clear()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(gdd.app.tiled, "solve", spy)
        assert main([*argv, "--out", str(tmp_path / "own.npy")]) == 0
    assert len(mixtures) == 9 and not torch.equal(mixtures[0], mixtures[1])


def test_a_failed_run_leaves_no_estimates_behind(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(6)
    np.save(tmp_path / "hsi.npy", rng.random((12, 12, 8)).astype(np.float32))
    np.save(tmp_path / "rgb.npy", rng.random((48, 48, 3)).astype(np.float32))
    argv = ["hs", "--hsi", str(tmp_path / "hsi.npy"), "--guide", str(tmp_path / "rgb.npy"), "--factor", "4",
            "--srf", "estimate", "--out", str(tmp_path / "x.npy"), "--report", str(tmp_path / "r.html"),
            "--bands", "0,1,99", *FAST]  # fmt: skip
    assert main(argv) == 1
    assert "--bands 0,1,99" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hsi.npy", "rgb.npy"]


def test_tiles_share_one_start_chosen_on_the_central_window(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib

    import gdd.app.tiled

    solve_module = importlib.import_module("gdd.problems.plan")
    calls: list[tuple[int, ...]] = []
    real = gdd.app.tiled.choose_start

    def counted(fitted, validation):  # type: ignore[no-untyped-def]
        calls.append(tuple(fitted.guide.shape))
        return real(fitted, validation)

    monkeypatch.setattr(gdd.app.tiled, "choose_start", counted)
    monkeypatch.setattr(solve_module, "choose_start", counted)
    ms, pan = _pair(tmp_path)
    out = tmp_path / "x.npy"
    argv = ["pan", "--ms", str(ms), "--pan", str(pan), "--ratio", "4", "--out", str(out), "--tile", "48",
            "--overlap", "12", "--spatial", "bicubic", *FAST]  # fmt: skip
    assert main(argv) == 0
    assert calls == [(1, 1, 96, 96)]  # once, on the (here whole) central window, not per tile
