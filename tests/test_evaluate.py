from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gdd.cli import main
from gdd.evaluate import evaluate_files
from gdd.io import InputError
from gdd.metrics import full_resolution, reduced_resolution

FAST = ["--iterations", "12", "--width", "8", "--device", "cpu", "--quiet"]


def _smooth(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    from scipy import ndimage

    return (ndimage.gaussian_filter(rng.random(shape), sigma=(2, 2, 0)) * 3 + 0.1).astype(np.float32)


@pytest.fixture
def rr_files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    gt = _smooth(rng, (48, 40, 5))
    files = {"gt": tmp_path / "gt.npy", "a": tmp_path / "a.npy", "b": tmp_path / "b.npy"}
    np.save(files["gt"], gt)
    np.save(files["a"], gt + 0.01 * rng.standard_normal(gt.shape).astype(np.float32))
    np.save(files["b"], gt + 0.05 * rng.standard_normal(gt.shape).astype(np.float32))
    return files


@pytest.fixture
def fr_files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    truth = _smooth(rng, (64, 64, 4))
    files = {k: tmp_path / f"{k}.npy" for k in ("ms", "pan", "fused", "blurry", "pan_lr")}
    np.save(files["ms"], truth.reshape(16, 4, 16, 4, 4).mean(axis=(1, 3)))
    np.save(files["pan"], truth.mean(axis=2))
    np.save(files["pan_lr"], truth.mean(axis=2).reshape(16, 4, 16, 4).mean(axis=(1, 3)))
    np.save(files["fused"], truth + 0.01 * rng.standard_normal(truth.shape).astype(np.float32))
    np.save(files["blurry"], np.load(files["ms"]).repeat(4, 0).repeat(4, 1))
    return files


def test_eval_reduced_resolution_table_json_csv(
    tmp_path: Path, rr_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = {k: tmp_path / f"m.{k}" for k in ("json", "csv")}
    argv = ["eval", str(rr_files["a"]), str(rr_files["b"]), "--reference", str(rr_files["gt"]), "--ratio", "4",
            "--data-range", "3", "--json", str(out["json"]), "--csv", str(out["csv"])]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    for label in ("PSNR", "PSNR/band", "SSIM", "SAM", "ERGAS", "Q", "Q2n", "SCC", "CC", "RMSE"):
        assert label in text
    lines = [ln for ln in text.splitlines() if ln.startswith(("a ", "b "))]
    assert len(lines) == 2
    data = json.loads(out["json"].read_text())
    assert data["protocol"] == "reduced" and data["settings"]["data_range"] == 3.0
    rows = {r["name"]: r["metrics"] for r in data["results"]}
    expected = reduced_resolution(
        torch.from_numpy(np.load(rr_files["a"])).permute(2, 0, 1),
        torch.from_numpy(np.load(rr_files["gt"])).permute(2, 0, 1),
        ratio=4,
        data_range=3.0,
    )
    assert rows["a"] == pytest.approx(expected)
    assert rows["a"]["psnr"] > rows["b"]["psnr"]
    table = list(csv.DictReader(out["csv"].read_text().splitlines()))
    assert [r["name"] for r in table] == ["a", "b"]
    assert float(table[0]["q2n"]) == pytest.approx(expected["q2n"], rel=1e-12)
    # Without --ratio ERGAS is not guessed.
    assert main(["eval", str(rr_files["a"]), "--reference", str(rr_files["gt"])]) == 0
    assert "give --ratio" in capsys.readouterr().out


def test_eval_full_resolution(fr_files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", str(fr_files["fused"]), str(fr_files["blurry"]), "--ms", str(fr_files["ms"]),
            "--pan", str(fr_files["pan"]), "--pan-lr", str(fr_files["pan_lr"])]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    for label in ("D_lambda", "D_s", "QNR", "D_lambda^K", "HQNR"):
        assert label in text
    ev = evaluate_files([str(fr_files["fused"])], ms=str(fr_files["ms"]), pan=str(fr_files["pan"]), sensor="QB")
    assert ev.settings["ratio"] == 4 and ev.settings["sensor"] == "QB"
    t = {k: torch.from_numpy(np.load(fr_files[k])) for k in ("fused", "ms", "pan")}
    expected = full_resolution(
        t["fused"].permute(2, 0, 1), t["ms"].permute(2, 0, 1), t["pan"][None], ratio=4, sensor="QB"
    )
    assert ev.rows[0][2] == pytest.approx(expected)
    # An MS already on the PAN's grid (the toolbox 1.0 protocol) needs the ratio, then blocks of 32 on both.
    upsampled = fr_files["blurry"]
    ev = evaluate_files([str(fr_files["fused"])], ms=str(upsampled), pan=str(fr_files["pan"]), ratio=4)
    expected = full_resolution(
        t["fused"].permute(2, 0, 1),
        torch.from_numpy(np.load(upsampled)).permute(2, 0, 1),
        t["pan"][None],
        ratio=4,
    )
    assert ev.rows[0][2] == pytest.approx(expected) and "decimated" not in str(ev.settings["pan_lr"])
    with pytest.raises(InputError, match="give --ratio"):
        evaluate_files([str(fr_files["fused"])], ms=str(upsampled), pan=str(fr_files["pan"]))


def _bad_eval(tmp_path: Path, rr: dict[str, Path], fr: dict[str, Path]) -> list[tuple[list[str], str]]:
    np.save(tmp_path / "nan.npy", np.full((48, 40, 5), np.nan, dtype=np.float32))
    return [
        (["eval", str(rr["a"])], "--reference"),
        (["eval", str(tmp_path / "missing.npy"), "--reference", str(rr["gt"])], "missing.npy"),
        (["eval", str(rr["a"]), "--reference", str(fr["ms"])], "the result 48 x 40 x 5"),
        (["eval", str(tmp_path / "nan.npy"), "--reference", str(rr["gt"])], "NaN"),
        (
            ["eval", str(rr["a"]), "--reference", str(rr["gt"]), "--ms", str(fr["ms"]), "--pan", str(fr["pan"])],
            "not both",
        ),
        (["eval", str(fr["fused"]), "--ms", str(fr["ms"]), "--pan", str(fr["pan"]), "--ratio", "2"], "contradicts"),
        (["eval", str(fr["fused"]), "--ms", str(fr["ms"]), "--pan", str(fr["ms"])], "PAN"),
        (["eval", str(fr["fused"]), "--ms", str(fr["pan"]), "--pan", str(fr["pan"])], "bands"),
        (["eval", str(fr["fused"]), "--ms", str(fr["ms"]), "--pan", str(fr["pan"]), "--sensor", "WV3"], "8 MS bands"),
        (["eval", str(rr["a"]), "--reference", str(rr["gt"]), "--json", str(tmp_path / "m.txt")], "unknown format"),
        (["eval", str(rr["a"]), "--reference", str(rr["gt"]), "--dim-cut", "30"], "leaves nothing"),
        (
            [
                "eval",
                str(rr["a"]),
                "--reference",
                str(rr["gt"]),
                "--report",
                str(tmp_path / "r.html"),
                "--bands",
                "5,1,0",
            ],
            "bands 0 to 4",
        ),
        (
            [
                "eval",
                str(rr["a"]),
                "--reference",
                str(rr["gt"]),
                "--report",
                str(tmp_path / "r.html"),
                "--pixel",
                "48,1",
            ],
            "outside",
        ),
    ]


def test_eval_full_resolution_of_a_result_smaller_than_the_default_block(tmp_path: Path) -> None:

    rng = np.random.default_rng(0)
    np.save(tmp_path / "f.npy", rng.random((16, 16, 4)).astype(np.float32))
    np.save(tmp_path / "ms.npy", rng.random((4, 4, 4)).astype(np.float32))
    np.save(tmp_path / "pan.npy", rng.random((16, 16)).astype(np.float32))
    # The default block (32) covers the 16 x 16 image as one block; only a block given larger is refused.
    ev = evaluate_files([str(tmp_path / "f.npy")], ms=str(tmp_path / "ms.npy"), pan=str(tmp_path / "pan.npy"),
                        layout="hwc")  # fmt: skip
    assert ev.settings["block_size"] == 32 and np.isfinite(ev.rows[0][2]["qnr"])
    with pytest.raises(InputError, match="--block-size 64: larger than the 16 x 16 image"):
        evaluate_files([str(tmp_path / "f.npy")], ms=str(tmp_path / "ms.npy"), pan=str(tmp_path / "pan.npy"),
                       layout="hwc", block_size=64)  # fmt: skip


def test_eval_bad_inputs(
    tmp_path: Path, rr_files: dict[str, Path], fr_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, words in _bad_eval(tmp_path, rr_files, fr_files):
        usage = words in ("--reference", "not both")  # options that do not go together: exit 2
        assert main(argv) == (2 if usage else 1), argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("gdd: error:") and words in err and "\n" not in err, (argv, err)
    # An existing output is not overwritten without --force, and nothing is computed first.
    existing = tmp_path / "m.json"
    existing.write_text("mine")
    assert main(["eval", str(rr_files["a"]), "--reference", str(rr_files["gt"]), "--json", str(existing)]) == 1
    assert existing.read_text() == "mine"


def test_eval_report(tmp_path: Path, rr_files: dict[str, Path], fr_files: dict[str, Path]) -> None:
    pytest.importorskip("matplotlib")
    report = tmp_path / "r.html"
    argv = ["eval", str(rr_files["a"]), "--reference", str(rr_files["gt"]), "--report", str(report),
            "--bands", "4,2,0", "--stretch", "2,98", "--pixel", "3,4", "--pixel", "40,30"]  # fmt: skip
    assert main(argv) == 0
    text = report.read_text()
    assert "Q2n" in text and "Spectra" in text
    fr_report = tmp_path / "fr.html"
    argv = ["eval", str(fr_files["fused"]), "--ms", str(fr_files["ms"]), "--pan", str(fr_files["pan"]),
            "--report", str(fr_report)]  # fmt: skip
    assert main(argv) == 0
    assert "HQNR" in fr_report.read_text()


def test_fusion_report(tmp_path: Path, fr_files: dict[str, Path]) -> None:
    pytest.importorskip("matplotlib")
    report = tmp_path / "pan.html"
    argv = ["pan", "--ms", str(fr_files["ms"]), "--pan", str(fr_files["pan"]), "--ratio", "4", "--full-resolution",
            "--out", str(tmp_path / "p.npy"), "--report", str(report), *FAST]  # fmt: skip
    assert main(argv) == 0
    html = report.read_text()
    assert "QNR" in html and "bicubic" in html and html.count("data:image/png;base64") >= 3
    # The report exists now: a rerun refuses before fitting anything.
    assert main([*argv[: -len(FAST)], "--out", str(tmp_path / "q.npy"), *FAST]) == 1
    assert not (tmp_path / "q.npy").exists()


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_eval_window_by_window_gives_the_whole_image_figures(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A large scene is evaluated a window at a time: the same indices, the nodata border found across windows."""
    if suffix == ".tif":
        pytest.importorskip("rasterio")
    from gdd.io import write_image

    rng = np.random.default_rng(3)
    ref = (_smooth(rng, (90, 110, 5)) / 4).astype(np.float32)
    result = np.clip(ref + 0.02 * rng.standard_normal(ref.shape), 0, 1).astype(np.float32)
    bordered = np.full_like(result, np.nan)
    bordered[7:83, 4:101] = result[7:83, 4:101]
    for name, a in (("result", bordered), ("ref", ref)):
        if suffix == ".npy":
            np.save(tmp_path / f"{name}.npy", a)
        else:
            write_image(tmp_path / f"{name}.tif", a)
    common = [str(tmp_path / f"result{suffix}"), "--reference", str(tmp_path / f"ref{suffix}"), "--ratio", "4",
              "--nodata", "nan", "--block-size", "16", "--dim-cut", "3"]  # fmt: skip
    figures = []
    for window in ("4096", "24", "40"):
        out = tmp_path / f"w{window}.json"
        assert main(["eval", *common, "--window", window, "--json", str(out)]) == 0
        report = json.loads(out.read_text())
        assert report["settings"]["valid_area"] == [7, 83, 4, 101]
        figures.append(report["results"][0]["metrics"])
    whole = figures[0]
    assert all(isinstance(whole[k], float) for k in ("psnr", "ssim", "sam", "ergas", "q", "q2n", "scc", "cc", "rmse"))
    assert whole["psnr"] > 30
    for windowed in figures[1:]:
        for key, value in whole.items():
            assert windowed[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # Nodata cutting into the data (a slanted edge, a hole in a later window than the first): the
    # largest rectangle of data, the same read whole and window by window, and said.
    holed = bordered.copy()
    holed[50, 60] = np.nan
    holed[np.add.outer(np.arange(90), np.arange(110)) > 150] = np.nan
    np.save(tmp_path / "holed.npy", holed)
    capsys.readouterr()
    args = ["eval", str(tmp_path / "holed.npy"), "--reference", str(tmp_path / f"ref{suffix}"), "--nodata", "nan"]
    cut = []
    for window in ("4096", "24", "40"):
        out = tmp_path / f"h{window}.json"
        assert main([*args, "--window", window, "--ratio", "4", "--block-size", "16", "--json", str(out)]) == 0
        said = capsys.readouterr().out
        assert "nodata pixels cut into the data; the indices are computed on its largest rectangle" in said
        cut.append(json.loads(out.read_text()))
    box = cut[0]["settings"]["valid_area"]
    assert box != [7, 83, 4, 101] and np.isfinite(holed[box[0] : box[1], box[2] : box[3]]).all()
    for windowed in cut[1:]:
        assert windowed["settings"]["valid_area"] == box
        for key, value in cut[0]["results"][0]["metrics"].items():
            assert windowed["results"][0]["metrics"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_images_read_on_different_scales_are_warned_of(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(5)
    gt = np.clip(_smooth(rng, (32, 32, 4)) / 4, 0.02, 0.98)
    np.save(tmp_path / "gt_u16.npy", np.rint(gt * 2047).astype(np.uint16))  # 11-bit digital numbers
    np.save(tmp_path / "fused.npy", (gt + 0.01 * rng.standard_normal(gt.shape)).astype(np.float32))  # in [0, 1]
    base = ["eval", str(tmp_path / "fused.npy"), "--reference", str(tmp_path / "gt_u16.npy"), "--ratio", "4"]
    assert main(base) == 0  # read without its bit depth: a 65535th, against values near 0.5
    err = capsys.readouterr().err
    assert "they look read on different scales" in err and err.count("\n") == 1, err
    assert main([*base, "--bit-depth", "11"]) == 0
    assert capsys.readouterr().err == ""  # the same scale: nothing to say
    np.save(tmp_path / "dn_u16.npy", np.rint(np.clip(np.load(tmp_path / "fused.npy"), 0, 1) * 2047).astype(np.uint16))
    dn = ["eval", str(tmp_path / "dn_u16.npy"), "--reference", str(tmp_path / "gt_u16.npy"), "--ratio", "4"]
    assert main([*dn, "--data-range", "2047"]) == 0  # both read to [0, 1]: 2047 is no range of theirs
    assert "--data-range 2047 is far above every value" in capsys.readouterr().err
    big = tmp_path / "big.npy"
    np.save(big, (gt * 100 + 50).astype(np.float32))  # radiance, say
    assert main(["eval", str(big), "--reference", str(big), "--ratio", "4"]) == 0
    assert "far above --data-range 1: PSNR and SSIM take it as the peak value" in capsys.readouterr().err


def test_the_rectangle_of_data_found_window_by_window_is_the_one_found_whole() -> None:
    from gdd.metrics.area import DataCells, valid_box

    rng = np.random.default_rng(0)
    h, w = 2200, 300  # cells of 3 pixels a side: windows must start on them
    rows, cols = np.mgrid[0:h, 0:w]
    valid = (rows + 4 * cols < 2600) & (rows > 5)  # a slanted swath edge and a border
    valid[rng.integers(0, h, 5), rng.integers(0, w, 5)] = False  # holes
    cells = DataCells(h, w, window=256)
    assert cells.k == 3 and cells.step % 3 == 0
    for r0 in range(0, h, cells.step):
        for c0 in range(0, w, cells.step):
            cells.add(r0, c0, valid[r0 : r0 + cells.step, c0 : c0 + cells.step])
    assert cells.cut and cells.count == valid.sum()
    box, share = valid_box([valid])
    assert cells.rectangle() == (box, share) and share is not None and valid[box].all()


def test_transparent_pixels_are_left_out_alike_read_whole_and_window_by_window(tmp_path: Path) -> None:
    """A picture's transparent pixels are nodata without a nodata value: window by window too."""
    from PIL import Image

    rng = np.random.default_rng(6)
    ref = (_smooth(rng, (60, 70, 3)) / 4).clip(0, 1)
    result = (ref + 0.03 * rng.standard_normal(ref.shape)).clip(0, 1)
    for name, a in (("ref", ref), ("result", result)):
        alpha = np.full(a.shape[:2], 255, np.uint8)
        alpha[:10, :15] = 0  # a transparent corner
        Image.fromarray(np.dstack([np.rint(a * 255).astype(np.uint8), alpha]), "RGBA").save(tmp_path / f"{name}.png")
    figures = []
    for window in ("4096", "24"):
        out = tmp_path / f"w{window}.json"
        argv = ["eval", str(tmp_path / "result.png"), "--reference", str(tmp_path / "ref.png"), "--ratio", "4"]
        assert main([*argv, "--block-size", "8", "--window", window, "--json", str(out)]) == 0
        figures.append(json.loads(out.read_text()))
    assert figures[0]["settings"]["valid_area"] == figures[1]["settings"]["valid_area"] != [0, 60, 0, 70]
    for key, value in figures[0]["results"][0]["metrics"].items():
        assert figures[1]["results"][0]["metrics"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
