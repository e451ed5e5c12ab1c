from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from gdd.cli import main


def _scene(size: int = 32, bands: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    maps = np.stack([np.sin(4 * xx) ** 2, np.cos(3 * yy) ** 2, ((xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.1).astype(float)])
    spectra = rng.random((3, bands)) * 0.8 + 0.1
    return np.einsum("khw,kc->hwc", maps / maps.sum(0), spectra).astype(np.float32)


@pytest.fixture
def hs_files(tmp_path: Path) -> dict[str, Path]:
    cube = _scene()
    srf = np.random.default_rng(1).random((3, cube.shape[2]))
    srf /= srf.sum(1, keepdims=True)
    lr = cube.reshape(8, 4, 8, 4, -1).mean(axis=(1, 3))
    files = {
        "gt": tmp_path / "gt.npy",
        "hsi": tmp_path / "hsi.npy",
        "rgb": tmp_path / "rgb.npy",
        "srf": tmp_path / "srf.npy",
    }
    np.save(files["gt"], cube)
    np.save(files["hsi"], lr)
    np.save(files["rgb"], cube @ srf.T)
    np.save(files["srf"], srf)
    return files


FAST = ["--iterations", "20", "--width", "8", "--device", "cpu", "--quiet"]


def _hs_argv(files: dict[str, Path], out: Path) -> list[str]:
    return ["hs", "--hsi", str(files["hsi"]), "--guide", str(files["rgb"]), "--srf", str(files["srf"]),
            "--factor", "4", "--out", str(out), *FAST]  # fmt: skip


def test_hs_end_to_end(tmp_path: Path, hs_files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res" / "fused.mat"
    code = main([*_hs_argv(hs_files, out), "--reference", str(hs_files["gt"]), "--json", str(tmp_path / "m.json")])
    assert code == 0
    assert scipy.io.loadmat(out)["out"].shape == (32, 32, 5)
    assert out.with_suffix(".png").is_file()
    report = json.loads((tmp_path / "m.json").read_text())
    assert set(report["metrics"]) == {"gdd", "bicubic"}
    gdd, bicubic = report["metrics"]["gdd"], report["metrics"]["bicubic"]
    assert {"psnr", "sam", "ergas"} <= set(gdd)
    # From the GSA-HS start GDD stays far ahead of bicubic interpolation (55 against 28.5 dB when written).
    assert gdd["psnr"] > bicubic["psnr"] + 3 and gdd["sam"] < bicubic["sam"] and gdd["ergas"] < bicubic["ergas"]
    assert report["iterations"] == 20 and report["settings"]["seed"] == 0
    assert "PSNR" in capsys.readouterr().out
    # A second run refuses to overwrite, and says so in one line.
    assert main(_hs_argv(hs_files, out)) == 1
    assert "--force" in capsys.readouterr().err


def test_pan_and_flash_end_to_end(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    np.save(tmp_path / "ms.npy", rng.random((8, 8, 4)).astype(np.float32))
    np.save(tmp_path / "pan.npy", rng.random((32, 32)).astype(np.float32))
    assert (
        main(
            [
                "pan",
                "--ms",
                str(tmp_path / "ms.npy"),
                "--pan",
                str(tmp_path / "pan.npy"),
                "--ratio",
                "4",
                "--out",
                str(tmp_path / "p.tif"),
                "--full-resolution",
                *FAST,
            ]
        )
        == 0
    )
    assert (tmp_path / "p.tif").is_file()
    np.save(tmp_path / "noisy.npy", rng.random((20, 24, 3)).astype(np.float32))
    np.save(tmp_path / "flash.npy", rng.random((20, 24, 3)).astype(np.float32))
    assert (
        main(
            [
                "flash",
                "--noisy",
                str(tmp_path / "noisy.npy"),
                "--guide",
                str(tmp_path / "flash.npy"),
                "--out",
                str(tmp_path / "f.npy"),
                *FAST,
            ]
        )
        == 0
    )
    assert np.load(tmp_path / "f.npy").shape == (20, 24, 3)


def _bad_cases(tmp_path: Path, files: dict[str, Path]) -> list[tuple[list[str], str]]:
    nan = tmp_path / "nan.npy"
    arr = np.load(files["hsi"])
    arr[0, 0, 0] = np.nan
    np.save(nan, arr)
    srf4 = tmp_path / "srf4.npy"
    np.save(srf4, np.ones((3, 4)))
    base = ["hs", "--hsi", str(files["hsi"]), "--guide", str(files["rgb"]), "--srf", str(files["srf"])]
    return [
        (
            [
                "hs",
                "--hsi",
                str(tmp_path / "missing.npy"),
                "--guide",
                str(files["rgb"]),
                "--srf",
                str(files["srf"]),
                "--factor",
                "4",
            ],
            "file not found",
        ),
        (["hs", "--hsi", str(nan), "--guide", str(files["rgb"]), "--srf", str(files["srf"]), "--factor", "4"], "NaN"),
        (
            ["hs", "--hsi", str(files["hsi"]), "--guide", str(files["rgb"]), "--srf", str(srf4), "--factor", "4"],
            "response matrix",
        ),
        ([*base, "--factor", "3"], "not divisible by the factor 3"),
        ([*base, "--factor", "2"], "needs 16 x 16"),
        ([*base, "--factor", "0"], "positive integer"),
        ([*base, "--factor", "4", "--reference", str(files["rgb"])], "the result 32 x 32 x 5"),
    ]


def test_bad_inputs_give_one_line_errors_and_no_output(
    tmp_path: Path, hs_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for i, (argv, message) in enumerate(_bad_cases(tmp_path, hs_files)):
        out = tmp_path / f"out{i}.npy"
        code = main([*argv, "--out", str(out), *FAST])
        err = capsys.readouterr().err.strip()
        assert code != 0, argv
        assert message in err, (message, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert not out.exists() and not out.with_suffix(".png").exists()


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pan", "--ms", "a.npy"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["hs", "--hsi", "a", "--guide", "b", "--srf", "c", "--factor", "x", "--out", "o.npy"]) == 2
    capsys.readouterr()
    # An option another command has: the help to see is this command's.
    assert main(["hs", "--hsi", "a", "--guide", "b", "--srf", "c", "--factor", "4", "--out", "o.npy",
                 "--sensor", "WV3"]) == 2  # fmt: skip
    assert capsys.readouterr().err == "gdd: error: unrecognized arguments: --sensor WV3 (see gdd hs --help)\n"
    assert main(["flash", "--noisy", "a.npy", "--guide", "b.npy", "--out", "o.xyz", *FAST]) == 1
    assert "unknown format" in capsys.readouterr().err


def test_a_value_that_starts_with_a_minus_is_the_option_s_value(capsys: pytest.CaptureFixture[str]) -> None:
    from gdd.cli.commands import join_negative_values

    # argparse reads "-1,2" as an unknown option; the command line gives it to the option before it.
    assert join_negative_values(["simulate", "ref.npy", "--shift", "-1,2", "--sigma", "1"]) == [
        "simulate", "ref.npy", "--shift=-1,2", "--sigma", "1"]  # fmt: skip
    assert join_negative_values(["--shift=-1,2", "-h", "--", "-1"]) == ["--shift=-1,2", "-h", "--", "-1"]
    # A negative pixel is refused as what it is, not as a missing value.
    from gdd.cli import build_parser

    simulate = ["simulate", "r.npy", "--factor", "4", "--shift", "-1,2", "--out", "c"]
    args = build_parser().parse_args(join_negative_values(simulate))
    assert args.shift == (-1, 2)
    hs = ["hs", "--hsi", "a.npy", "--guide", "b.npy", "--srf", "c.csv", "--factor", "4", "--out", "o.npy"]
    assert main([*hs, "--pixel", "-1,2"]) == 2
    err = capsys.readouterr().err
    assert "expected ROW,COL counted from 0, got '-1,2'" in err and "expected one argument" not in err


def test_pan_mismatched_bands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "ms.npy", np.random.default_rng(0).random((8, 8, 4)).astype(np.float32))
    np.save(tmp_path / "pan.npy", np.random.default_rng(0).random((32, 32, 3)).astype(np.float32))
    assert (
        main(
            [
                "pan",
                "--ms",
                str(tmp_path / "ms.npy"),
                "--pan",
                str(tmp_path / "pan.npy"),
                "--ratio",
                "4",
                "--out",
                str(tmp_path / "o.npy"),
                *FAST,
            ]
        )
        == 1
    )
    assert "one band" in capsys.readouterr().err
    assert not (tmp_path / "o.npy").exists()


def test_demo_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "32", "--iterations", "10", "--device", "cpu", "--quiet"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["simulated"] is True and set(report["metrics"]) == {"gdd", "bicubic"}
    # 34-37 dB against bicubic's 16 when written.
    assert report["metrics"]["gdd"]["psnr"] > report["metrics"]["bicubic"]["psnr"] + 3
    assert (out / "figure.png").stat().st_size > 10_000
    assert np.load(out / "result.npy").shape == (32, 32, 31)
    printed = capsys.readouterr().out
    assert "PSNR" in printed and "GSA-HS (classic start)" in printed and "classic" in report["choice"]
    # Again without --force: refused, nothing changed.
    before = (out / "result.npy").read_bytes()
    assert main(["demo", "--out", str(out), "--size", "32", "--iterations", "10", "--device", "cpu", "--quiet"]) == 1
    assert "--force" in capsys.readouterr().err
    assert (out / "result.npy").read_bytes() == before


def test_every_run_says_how_it_compares_with_its_classic_method(
    tmp_path: Path, hs_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # HS: the default starts from GSA-HS and names it, with both errors on the held-out pixels.
    assert main(_hs_argv(hs_files, tmp_path / "h.npy")) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("result:"))
    assert "GSA-HS (classic start)" in line and "held-out error" in line
    # PAN with the sensor's MTF and the authors' start: GSA is the fallback it is compared with.
    rng = np.random.default_rng(3)
    np.save(tmp_path / "ms.npy", rng.random((8, 8, 4)).astype(np.float32))
    np.save(tmp_path / "pan.npy", rng.random((32, 32)).astype(np.float32))
    argv = ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4",
            "--spatial", "mtf", "--sensor", "QB", "--init", "none", "--json", str(tmp_path / "p.json")]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "p.npy"), *FAST]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("result:"))
    assert "GSA (classic fallback)" in line
    report = json.loads((tmp_path / "p.json").read_text())
    assert report["settings"]["spatial"] == "mtf" and {"final", "classic", "chosen"} <= set(report["choice"])
    # QuickBird has 4 MS bands: a 6-band MS image with its gains is an input error.
    np.save(tmp_path / "ms8.npy", rng.random((8, 8, 6)).astype(np.float32))
    argv[2], argv[-1] = str(tmp_path / "ms8.npy"), str(tmp_path / "p8.json")
    assert main([*argv, "--out", str(tmp_path / "p8.npy"), *FAST]) == 1
    assert "QB" in capsys.readouterr().err and not (tmp_path / "p8.npy").exists()
    # Flash: no classic method, and the line says so.
    np.save(tmp_path / "noisy.npy", rng.random((20, 24, 3)).astype(np.float32))
    argv = ["flash", "--noisy", str(tmp_path / "noisy.npy"), "--guide", str(tmp_path / "noisy.npy")]
    assert main([*argv, "--out", str(tmp_path / "f.npy"), *FAST]) == 0
    assert "no classic method" in capsys.readouterr().out
    # An --init the task does not have is refused before the fit, in one line.
    assert main([*argv, "--out", str(tmp_path / "f2.npy"), "--init", "gsa", *FAST]) == 2
    assert "no classic method" in capsys.readouterr().err and not (tmp_path / "f2.npy").exists()
    assert main([*_hs_argv(hs_files, tmp_path / "h2.npy"), "--init", "brovey"]) == 2
    assert "unknown classic method 'brovey' for HS fusion" in capsys.readouterr().err


def test_pan_chooses_its_start_from_the_pair_or_averages_two(
    tmp_path: Path, hs_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    x = _scene(32, 4)
    np.save(tmp_path / "pan.npy", x.mean(axis=2))
    np.save(tmp_path / "ms.npy", x.reshape(8, 4, 8, 4, 4).mean(axis=(1, 3)))
    argv = ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4", *FAST]
    # Default: one fit, from the start the pair chose, said in one line.
    assert main([*argv, "--out", str(tmp_path / "a.npy"), "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert "gdd pan: 20 steps" in out
    settings = json.loads((tmp_path / "a.json").read_text())["settings"]
    rule, model = settings["start_rule"], settings["model_choice"]
    # Each choice is the candidate of lowest held-out error, and the run says so.
    assert rule["rule"] == "holdout" and rule["init"] == min(rule["holdout"], key=rule["holdout"].get)
    assert model["chosen"] == min(model["held_out"], key=model["held_out"].get) == settings["spatial"]
    assert set(model["held_out"]) == {"bicubic", "mtf"}
    assert "start: " in out and "MS degradation: " in out and "held-out error" in out
    # ... with its warm start's steps: a fifth of the run's 20 (gdd.problems.warm_steps).
    assert settings["preset"]["warm_start"] == 4
    kind = "as a residual after a warm start of 4 steps" if rule["residual"] else "warm start of 4 steps"
    assert f", {kind} (held-out error " in out
    # ... each with its runner-up and how far ahead of it the choice was.
    for made, scores in ((rule, rule["holdout"]), (model, model["held_out"])):
        chosen = made.get("init", made.get("chosen"))
        assert made["runner_up"] == min((k for k in scores if k != chosen), key=scores.get)
        assert made["separation"] >= 0
        assert f"{made['separation']:.1f} standard errors apart" in out
    # --ensemble: both starts; each, their mean and the classic start scored on the held-out pixels.
    assert main([*argv, "--out", str(tmp_path / "e.npy"), "--json", str(tmp_path / "e.json"), "--ensemble"]) == 0
    out = capsys.readouterr().out
    assert "gdd pan: 2 fits of at most 20 steps" in out
    report = json.loads((tmp_path / "e.json").read_text())
    choice = report["choice"]
    assert [c["start"] for c in choice["starts"]] == ["warm+residual", "warm"]
    scores = {k: choice[k] for k in ("start 1", "start 2", "mean", "classic")}
    assert choice["chosen"] == min(scores, key=scores.get)
    line = next(x for x in out.splitlines() if x.startswith("result:"))
    said = {
        "start 1": "the GDD fit from SFIM warm+residual (one of 2 starts)",
        "start 2": "the GDD fit from GSA warm (one of 2 starts)",
        "mean": "the mean of 2 GDD fits (from SFIM warm+residual, GSA warm)",
        "classic": "the classic start (SFIM) itself",
    }
    assert line.startswith(f"result: {said[choice['chosen']]}, held-out error {scores[choice['chosen']]:.4g}")
    # ... and how far ahead of the next best it was, in standard errors of the held-out error.
    runner = choice["runner_up"]
    assert runner == min((k for k in scores if k != choice["chosen"]), key=scores.get)
    assert f"ahead of the next best, {said[runner]}, by {choice['separation']:.1f} standard errors" in line
    assert ("sampling noise" in line) == (choice["separation"] < 2)
    # The fits the result is made of went on with every pixel, and the line says for how long.
    went = [c for c in choice["starts"] if "refit_steps" in c]
    assert len(went) == {"mean": 2, "classic": 0}.get(choice["chosen"], 1)
    for c in went:
        assert f"continued on every pixel from step {c['refit_from']} for {c['refit_steps']} steps" in line
    # ... and the summary line counts those steps after the fits'.
    summary = next(x for x in out.splitlines() if x.startswith("gdd pan: 2 fits of at most 20 steps"))
    total = sum(c["refit_steps"] for c in went)
    assert (f", then {total} with every pixel in " in summary) == (total > 0), summary
    # A start named on the command line: no rule.
    assert main([*argv, "--out", str(tmp_path / "g.npy"), "--init", "gsa"]) == 0
    assert "start: " not in capsys.readouterr().out
    # The rule and the ensemble are pansharpening's.
    assert main([*_hs_argv(hs_files, tmp_path / "h.npy"), "--init", "auto"]) == 2
    assert "only pansharpening" in capsys.readouterr().err and not (tmp_path / "h.npy").exists()
    assert main([*_hs_argv(hs_files, tmp_path / "h.npy"), "--ensemble"]) == 2


def test_the_summary_line_counts_the_steps_of_every_fit() -> None:
    from gdd.app import steps_line

    assert steps_line({"chosen": "classic"}, 500, 500) == "500 steps"
    assert steps_line({"refit_steps": 125}, 500, 500) == "500 steps, then 125 with every pixel"
    assert steps_line({"refit_steps": 50}, 300, 500) == (
        "300 of 500 steps (the held-out error stopped improving), then 50 with every pixel"
    )
    starts = [{"refit_steps": 350}, {"refit_steps": 100}]
    assert steps_line({"starts": starts}, 600, 600) == "2 fits of at most 600 steps, then 450 with every pixel"
    assert steps_line({"starts": [{}, {}]}, 400, 600) == "2 fits of at most 600 steps (the first stopped at 400)"


def test_the_degradations_line_keeps_two_digits_of_small_shares() -> None:
    from gdd.app import rule_line

    checked = {"given": 7.649e-07, "estimated": 2.857e-05, "chosen": "given"}
    assert rule_line({"degradations": checked}) == (
        "degradations: as given (unexplained on the pair's unseen halves: given 7.6e-05%, estimated 2.9e-03%)"
    )
    checked = {"given": 0.0918, "estimated": 1.33e-06, "chosen": "estimated", "offset": [1.0, 1.0]}
    assert rule_line({"degradations": checked}) == (
        "degradations: estimated from the pair (unexplained on the pair's unseen halves: given 9.18%, "
        "estimated 1.3e-04%; offset +1.00, +1.00 pixels)"
    )


def test_a_response_tabulated_by_wavelength_is_resampled_onto_the_hs_bands(
    tmp_path: Path, hs_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A camera's curves at 1 nm fuse as the same curves sampled at the HS image's band centres."""
    envi = pytest.importorskip("spectral.io.envi", reason="ENVI files need the envi extra: pip install 'gdd[envi]'")
    bands = np.arange(450.0, 700.0, 50.0)  # the 5 bands' centres
    envi.save_image(str(tmp_path / "hsi.hdr"), np.load(hs_files["hsi"]), ext=".img",
                    metadata={"wavelength": list(bands), "wavelength units": "nm"})  # fmt: skip
    fine = np.arange(400.0, 751.0)
    curves = np.stack([np.exp(-0.5 * ((fine - c) / 60) ** 2) for c in (480, 560, 640)])
    table = np.column_stack([fine, curves.T])[::-1]  # in descending order, as some tables are
    np.savetxt(tmp_path / "camera.csv", table, delimiter=",", header="wavelength,b,g,r", comments="")
    sampled = np.stack([np.interp(bands, fine, row) for row in curves])
    np.save(tmp_path / "sampled.npy", sampled)
    common = ["--guide", str(hs_files["rgb"]), "--factor", "4", "--keep-degradations", *FAST]
    assert main(["hs", "--hsi", str(tmp_path / "hsi.hdr"), "--srf", str(tmp_path / "camera.csv"),
                 "--out", str(tmp_path / "a.npy"), *common]) == 0  # fmt: skip
    assert main(["hs", "--hsi", str(tmp_path / "hsi.hdr"), "--srf", str(tmp_path / "sampled.npy"),
                 "--out", str(tmp_path / "b.npy"), *common]) == 0  # fmt: skip
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    capsys.readouterr()
    # Without the HS image's wavelengths, a table on another grid cannot be placed: one line.
    assert main(["hs", "--hsi", str(hs_files["hsi"]), "--srf", str(tmp_path / "camera.csv"),
                 "--out", str(tmp_path / "c.npy"), *common]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "tabulated at 351 wavelengths (400-750 nm) and the HS image's 5 bands have none" in err, err


def test_a_run_that_fails_after_its_result_keeps_the_estimates_beside_it(
    tmp_path: Path, hs_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result written, then a failure (here the JSON record's): the response it was fitted with stays beside it."""
    import gdd.app.whole

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gdd.app.whole, "write_json", fail)
    argv = [*_hs_argv(hs_files, tmp_path / "r.npy"), "--json", str(tmp_path / "r.json")]
    argv[argv.index("--srf") + 1] = "estimate"
    assert main(argv) == 1
    assert (tmp_path / "r.npy").is_file() and (tmp_path / "r.srf.csv").is_file()
    # A run that fails before its result leaves no estimate behind.
    monkeypatch.setattr(gdd.app.whole, "write_json", lambda *a: None)
    monkeypatch.setattr(gdd.app.whole, "write_image", fail)
    assert main([*argv[:-2], "--out", str(tmp_path / "q.npy")]) == 1
    assert not (tmp_path / "q.npy").exists() and not (tmp_path / "q.srf.csv").exists()


def test_eleven_bit_numbers_read_without_their_bit_depth_are_warned_of(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    ms = rng.integers(1, 2048, (8, 8, 4)).astype(np.uint16)
    pan = rng.integers(1, 2048, (32, 32)).astype(np.uint16)
    ms[0, 0, 0] = 2047
    np.save(tmp_path / "ms.npy", ms)
    np.save(tmp_path / "pan.npy", pan)
    argv = ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4",
            "--iterations", "2", "--width", "8", "--device", "cpu", "--quiet"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "a.npy")]) == 0
    err = capsys.readouterr().err
    assert "ms ms.npy: its integers reach 2047 of 65535" in err and "give --bit-depth 11" in err
    assert err.count("gdd: warning:") == 2  # the MS and the PAN
    # By tiles: of the values in the windows the run read.
    assert main([*argv, "--out", str(tmp_path / "t.npy"), "--tile", "16"]) == 0
    err = capsys.readouterr().err
    assert "ms ms.npy: its integers reach 2047 of 65535" in err and err.count("gdd: warning:") == 2
    assert main([*argv, "--out", str(tmp_path / "b.npy"), "--bit-depth", "11"]) == 0
    assert "its integers reach" not in capsys.readouterr().err
    np.save(tmp_path / "ms.npy", ms * np.float32(5.0))  # radiance, say: floats far above 1
    assert main([*argv, "--out", str(tmp_path / "c.npy"), "--bit-depth", "11"]) == 0
    err = capsys.readouterr().err
    assert "ms ms.npy: its values reach 1.024e+04; gdd fits values in about [0, 1]" in err and err.count("\n") == 1


def test_a_flash_preview_keeps_the_photos_colour_balance_whole_and_by_tiles(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(4)
    brown = np.array([0.36, 0.17, 0.07], np.float32)  # a dark brown photo, as a dim room is
    np.save(tmp_path / "noisy.npy", (brown * (0.9 + 0.2 * rng.random((24, 24, 3)))).astype(np.float32))
    np.save(tmp_path / "flash.npy", (brown * (0.9 + 0.2 * rng.random((24, 24, 3)))).astype(np.float32))
    argv = ["flash", "--noisy", str(tmp_path / "noisy.npy"), "--guide", str(tmp_path / "flash.npy"), *FAST]
    for tile in ("none", "16"):
        out = tmp_path / f"clean_{tile}.npy"
        assert main([*argv, "--out", str(out), "--tile", tile]) == 0
        preview = np.asarray(Image.open(tmp_path / f"clean_{tile}.png"), dtype=np.float64) / 255
        shown = np.clip(np.load(out), 0, 1).mean(axis=(0, 1))
        # As it is, not stretched band by band (which turned it grey-blue: about 0.5 in each band).
        np.testing.assert_allclose(preview.mean(axis=(0, 1)), shown, atol=0.01)


def test_iterations_0_without_a_classic_start_is_refused_and_the_help_gives_the_presets_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gdd.cli.options import FUSION
    from gdd.problems import PRESETS

    rng = np.random.default_rng(6)
    np.save(tmp_path / "noisy.npy", rng.random((16, 16, 3)).astype(np.float32))
    np.save(tmp_path / "flash.npy", rng.random((16, 16, 3)).astype(np.float32))
    argv = ["flash", "--noisy", str(tmp_path / "noisy.npy"), "--guide", str(tmp_path / "flash.npy"),
            "--out", str(tmp_path / "x.png"), "--device", "cpu", "--iterations", "0"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--iterations 0: flash has no classic start" in err and not (tmp_path / "x.png").exists()
    help_text = " ".join(next(o for o in FUSION if "--iterations" in o.flags).kwargs["help"].split())
    cpu = ", ".join(f"{task} {PRESETS[(task, 'cpu')].iterations}" for task in ("hs", "pan", "flash"))
    authors = ", ".join(str(PRESETS[(task, "authors")].iterations) for task in ("hs", "pan", "flash"))
    assert f"on a CPU {cpu}; the authors' budget {authors})" in help_text
