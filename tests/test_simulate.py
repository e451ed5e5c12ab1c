from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gdd.io import InputError, UsageError, read_matrix
from gdd.sensors import mtf_kernel
from gdd.simulate import (
    CAVE_WAVELENGTHS,
    read_case,
    resample_response,
    run_simulate,
    simulate_hs,
    simulate_pan,
    spectral_response,
    write_case,
)


@pytest.fixture
def cube() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.2, 1.0, (16, 12, 5)).astype(np.float32)


@pytest.fixture
def srf() -> np.ndarray:
    return np.random.default_rng(1).uniform(0.1, 1.0, (3, 5))


def _snr_db(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    clean, noisy = clean.astype(np.float64), noisy.astype(np.float64)
    return 10 * np.log10((clean**2).mean(axis=(0, 1)) / ((noisy - clean) ** 2).mean(axis=(0, 1)))


# --------------------------------------------------------------------------- degradation


def test_block_average_is_a_reshape_mean(cube: np.ndarray, srf: np.ndarray) -> None:
    out = simulate_hs(cube, factor=4, srf=srf)
    expected = cube.astype(np.float64).reshape(4, 4, 3, 4, 5).mean(axis=(1, 3))
    assert out["hsi"].shape == (4, 3, 5) and out["hsi"].dtype == np.float32
    np.testing.assert_allclose(out["hsi"], expected, rtol=1e-6)
    assert np.array_equal(out["gt"], cube)


def test_guide_uses_rows_normalised_to_one(cube: np.ndarray, srf: np.ndarray) -> None:
    out = simulate_hs(cube, factor=2, srf=srf * 7)
    r = srf / srf.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out["srf"], r)
    np.testing.assert_allclose(out["msi"], cube.astype(np.float64) @ r.T, rtol=1e-6)
    with pytest.raises(ValueError, match="positive sum"):
        simulate_hs(cube, factor=2, srf=np.vstack([srf, np.zeros(5)]))


@pytest.mark.parametrize("spatial", ["block", "gaussian", "mtf"])
def test_a_constant_cube_stays_constant(spatial: str) -> None:
    out = simulate_hs(np.full((16, 16, 3), 0.4), factor=4, srf=np.ones((2, 3)), spatial=spatial)  # type: ignore[arg-type]
    # The toolbox's MTF filter is not renormalised: its DC gain is about 0.998.
    level = 0.4 * (mtf_kernel(4, 0.29).sum() if spatial == "mtf" else 1.0)
    assert out["hsi"].shape == (4, 4, 3)
    np.testing.assert_allclose(out["hsi"], level, rtol=1e-6)
    np.testing.assert_allclose(out["msi"], 0.4, rtol=1e-6)


def test_sizes_not_divisible_by_the_factor(cube: np.ndarray, srf: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"16 x 12 is not divisible by the factor 5"):
        simulate_hs(cube, factor=5, srf=srf)
    out = simulate_hs(cube, factor=5, srf=srf, crop=True)
    assert out["gt"].shape == (15, 10, 5) and out["hsi"].shape == (3, 2, 5)
    assert np.array_equal(out["gt"], cube[:15, :10])


def test_bad_options(cube: np.ndarray, srf: np.ndarray) -> None:
    with pytest.raises(ValueError, match="spatial must be"):
        simulate_hs(cube, factor=2, srf=srf, spatial="bicubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spatial='mtf' only"):
        simulate_hs(cube, factor=2, srf=srf, sensor="QB")
    with pytest.raises(ValueError, match=r"\(K, 5\)"):
        simulate_hs(cube, factor=2, srf=srf[:, :4])


def test_noise_at_the_requested_snr(cube: np.ndarray, srf: np.ndarray) -> None:
    big = np.tile(cube, (4, 4, 1))
    clean = simulate_hs(big, factor=2, srf=srf)
    noisy = simulate_hs(big, factor=2, srf=srf, snr_db=25, seed=3)
    # A band's measured SNR scatters by about 0.2 dB (768 pixels per HS band, 2304 per MS band):
    # 24.8-25.4 dB when written.
    for key in ("hsi", "msi"):
        snr = _snr_db(clean[key], noisy[key])
        assert np.all(np.abs(snr - 25) < 1) and abs(snr.mean() - 25) < 0.4, (key, snr)
    assert np.array_equal(noisy["gt"], clean["gt"])


def test_seeded_runs_are_bitwise_equal(cube: np.ndarray, srf: np.ndarray) -> None:
    a = simulate_hs(cube, factor=2, srf=srf, snr_db=30, seed=7)
    b = simulate_hs(cube, factor=2, srf=srf, snr_db=30, seed=7)
    c = simulate_hs(cube, factor=2, srf=srf, snr_db=30, seed=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["hsi"], c["hsi"])
    p = simulate_pan(cube, np.ones((32, 24)), ratio=2, snr_db=30, seed=7)
    q = simulate_pan(cube, np.ones((32, 24)), ratio=2, snr_db=30, seed=7)
    assert all(np.array_equal(p[k], q[k]) for k in p)


def test_simulate_pan_shapes_and_a_constant_image() -> None:
    out = simulate_pan(np.full((16, 12, 4), 0.3), np.full((64, 48), 0.6), ratio=4, sensor="QB")
    assert out["ms_lr"].shape == (4, 3, 4) and out["pan_lr"].shape == (16, 12) and out["gt"].shape == (16, 12, 4)
    gains = (0.34, 0.32, 0.30, 0.22)
    level = 0.3 * np.array([mtf_kernel(4, g).sum() for g in gains])
    np.testing.assert_allclose(out["ms_lr"], np.broadcast_to(level, (4, 3, 4)), rtol=1e-6)
    np.testing.assert_allclose(out["pan_lr"], 0.6 * mtf_kernel(4, 0.15).sum(), rtol=1e-6)


def test_simulate_pan_size_errors() -> None:
    with pytest.raises(ValueError, match=r"pan is 60 x 48, expected 64 x 48"):
        simulate_pan(np.ones((16, 12, 4)), np.ones((60, 48)), ratio=4)
    with pytest.raises(ValueError, match=r"18 x 12 is not divisible by the factor 4"):
        simulate_pan(np.ones((18, 12, 4)), np.ones((72, 48)), ratio=4)
    out = simulate_pan(np.ones((18, 12, 4)), np.ones((72, 48)), ratio=4, crop=True)
    assert out["gt"].shape == (16, 12, 4) and out["pan_lr"].shape == (16, 12)
    with pytest.raises(ValueError, match="has 4 MS bands, the image has 3"):
        simulate_pan(np.ones((8, 8, 3)), np.ones((32, 32)), ratio=4, sensor="QB")


# --------------------------------------------------------------------------- spectral responses


def test_resampling_by_hand() -> None:
    got = resample_response([500, 400], np.array([[1.0, 0.0], [2.0, 2.0]]), [390, 400, 425, 500, 510])
    np.testing.assert_allclose(got, [[0, 0, 0.25, 1, 0], [0, 2, 2, 2, 0]])


def test_csv_response(tmp_path: Path) -> None:
    named = tmp_path / "named.csv"
    named.write_text("# a comment\nwavelength_nm,a,b\n400,0,2\n500,1,2\n")
    bare = tmp_path / "bare.csv"
    bare.write_text("500,1,2\n400,0,2\n")
    for path in (named, bare):
        got = spectral_response(str(path), [400, 425, 500])
        np.testing.assert_allclose(got, [[0, 0.25, 1], [2, 2, 2]])  # not normalised
    with pytest.raises(InputError, match=r"row\(s\) 1, 2 lie outside .*400-500 nm\)$"):
        spectral_response(str(named), [600, 610, 620])
    with pytest.raises(InputError, match="has no PAN row"):
        spectral_response(f"{named}:pan", [400, 500])
    np.testing.assert_allclose(spectral_response(f"{named}:2", [450]), [[2]])
    with pytest.raises(InputError, match=r"row\(s\) 1 lie outside .*; keep the others with FILE:2$"):
        spectral_response(str(named), [300, 400])


def test_matrix_on_the_image_bands(tmp_path: Path, srf: np.ndarray) -> None:
    np.save(tmp_path / "r.npy", srf)
    assert np.array_equal(spectral_response(str(tmp_path / "r.npy"), range(5)), srf)
    np.save(tmp_path / "t.npy", srf.T)
    assert np.array_equal(spectral_response(str(tmp_path / "t.npy"), range(5)), srf)
    with pytest.raises(InputError, match="3 x 5 matrix for an image of 4 bands"):
        spectral_response(str(tmp_path / "r.npy"), range(4))
    with pytest.raises(InputError, match="file not found"):
        spectral_response(str(tmp_path / "missing.csv"), range(5))


def test_satellite_mat(shared: Path) -> None:
    path = shared / "srf/satellite/WV3_Spectral_Responses.mat"
    wide = np.arange(400.0, 1001.0, 10.0)
    full = spectral_response(str(path), wide)
    assert full.shape == (9, 61)
    ms, pan = spectral_response(f"{path}:ms", wide), spectral_response(f"{path}:pan", wide)
    assert ms.shape == (8, 61) and np.array_equal(ms, full[:8]) and np.array_equal(pan, full[8:])
    assert (ms.argmax(axis=1) == np.sort(ms.argmax(axis=1))).all()  # bands in wavelength order
    with pytest.raises(InputError, match=r"row\(s\) 6, 7, 8 lie outside .*FILE:1-5"):
        spectral_response(f"{path}:ms", CAVE_WAVELENGTHS)
    assert spectral_response(f"{path}:1-5", CAVE_WAVELENGTHS).shape == (5, 31)
    with pytest.raises(InputError, match="has no PAN row"):
        spectral_response(f"{shared / 'srf/satellite/Sentinel2a_Spectral_Responses.mat'}:pan", wide)


def test_colour_builtins() -> None:
    pytest.importorskip("colour")
    cmfs = spectral_response("cie1931", CAVE_WAVELENGTHS)
    assert cmfs.shape == (3, 31) and cmfs.min() >= 0
    assert abs(cmfs[1, 16] - 0.995) < 1e-3  # y-bar(560 nm) = 0.995 (CIE 1931 table)
    camera = spectral_response("nikon-d5100", CAVE_WAVELENGTHS)
    assert camera.shape == (3, 31) and np.argmax(camera, axis=1).tolist() == sorted(np.argmax(camera, axis=1))[::-1]
    with pytest.raises(InputError, match="built-ins: cie1931, nikon-d5100, sigma-sdmerrill"):
        spectral_response("no-such-camera", CAVE_WAVELENGTHS)
    # The Sigma SD Merrill by its name, and by colour-science's spelling of it.
    merrill = spectral_response("sigma-sdmerrill", CAVE_WAVELENGTHS)
    assert np.array_equal(merrill, spectral_response("sigma-sdmerill", CAVE_WAVELENGTHS))
    assert np.array_equal(merrill, spectral_response("Sigma SDMerill (NPL)", CAVE_WAVELENGTHS))


def test_colour_builtins_against_the_shared_tables(shared: Path) -> None:
    pytest.importorskip("colour")
    for name, table in (("cie1931", "colour_cie1931_2deg"), ("nikon-d5100", "colour_nikon_d5100_npl")):
        expected = read_matrix(shared / f"srf/{table}_400-700nm_10nm.csv").T
        np.testing.assert_allclose(spectral_response(name, CAVE_WAVELENGTHS), expected, atol=1e-6)


def test_builtins_without_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "colour", None)
    with pytest.raises(InputError, match=r"pip install 'gdd\[demo\]'"):
        spectral_response("cie1931", CAVE_WAVELENGTHS)


# --------------------------------------------------------------------------- case folders


def test_case_round_trip(tmp_path: Path, cube: np.ndarray, srf: np.ndarray) -> None:
    arrays = simulate_hs(cube, factor=4, srf=srf, snr_db=30)
    protocol = {"task": "hs", "factor": 4, "spatial": "block", "snr_db": 30.0, "source": "/data/scenes/cube.npy"}
    path = write_case(tmp_path / "case", arrays, protocol)
    assert path == tmp_path / "case/case.json"
    assert sorted(p.name for p in path.parent.iterdir()) == ["case.json", "gt.npy", "hsi.npy", "msi.npy", "srf.csv"]
    raw = json.loads(path.read_text())
    assert raw["gdd_case"] == 1 and raw["source"] == "cube.npy" and raw["reference"] == "gt.npy"
    assert raw["inputs"] == {"hsi": "hsi.npy", "guide": "msi.npy", "srf": "srf.csv"}
    case = read_case(tmp_path / "case")
    assert case["folder"] == tmp_path / "case" and read_case(path)["inputs"] == case["inputs"]
    for role, key in (("hsi", "hsi"), ("guide", "msi")):
        assert np.array_equal(np.load(case["inputs"][role]), arrays[key])
    assert np.array_equal(np.load(case["reference"]), cube)
    assert np.array_equal(read_matrix(case["inputs"]["srf"]), arrays["srf"])
    with pytest.raises(InputError, match=r"already holds case\.json.*--force"):
        write_case(tmp_path / "case", arrays, protocol)
    write_case(tmp_path / "case", {**arrays, "hsi": arrays["hsi"] * 0}, protocol, force=True)
    assert not np.load(case["inputs"]["hsi"]).any()


def test_read_case_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no case\.json"):
        read_case(tmp_path)
    (tmp_path / "case.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_case(tmp_path)
    (tmp_path / "case.json").write_text('{"gdd_case": 2}')
    with pytest.raises(InputError, match="expected gdd_case 1, got 2"):
        read_case(tmp_path)
    arrays = simulate_pan(np.ones((8, 8, 2)), np.ones((16, 16)), ratio=2)
    write_case(tmp_path, arrays, {"task": "pan", "ratio": 2}, force=True)
    assert read_case(tmp_path)["inputs"]["pan"] == tmp_path / "pan_lr.npy"
    (tmp_path / "pan_lr.npy").unlink()
    with pytest.raises(InputError, match=r"input 'pan' file pan_lr\.npy is missing"):
        read_case(tmp_path)
    bad = {"gdd_case": 1, "task": "pan", "ratio": 2, "inputs": {"ms": "../x"}}
    (tmp_path / "case.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="inputs lack pan"):
        read_case(tmp_path)


# --------------------------------------------------------------------------- from files


def _band_folder(folder: Path, bands: int, size: int = 16) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(1, bands + 1):
        Image.fromarray(rng.integers(0, 65536, (size, size), dtype=np.uint16)).save(folder / f"scene_ms_{i:02d}.png")
    return folder


def test_run_simulate_on_a_cave_folder(tmp_path: Path) -> None:
    table = tmp_path / "rgb.csv"
    table.write_text("wavelength_nm,b,g,r\n400,1,0,0\n550,0,1,0\n700,0,0,1\n")
    path = run_simulate(
        reference=str(_band_folder(tmp_path / "scene", 31)),
        out=str(tmp_path / "out"),
        factor=4,
        srf=str(table),
        spatial="gaussian",
        snr_db=40,
    )
    case = json.loads(path.read_text())
    assert case["task"] == "hs" and case["factor"] == 4 and case["spatial"] == "gaussian"
    assert case["source"] == "scene" and case["srf_source"] == "rgb.csv"
    assert case["wavelengths_assumed"] is True and case["wavelengths"] == list(CAVE_WAVELENGTHS)
    assert np.load(tmp_path / "out/msi.npy").shape == (16, 16, 3)
    with pytest.raises(InputError, match="band wavelengths are unknown"):
        run_simulate(
            reference=str(_band_folder(tmp_path / "short", 30)), out=str(tmp_path / "o2"), factor=4, srf=str(table)
        )


def test_run_simulate_errors(tmp_path: Path, cube: np.ndarray, srf: np.ndarray) -> None:
    np.save(tmp_path / "cube.npy", cube)
    np.save(tmp_path / "srf.npy", srf)
    np.save(tmp_path / "pan.npy", np.ones((64, 48), np.float32))
    np.save(tmp_path / "small.npy", np.ones((48, 36), np.float32))
    ref, out, r = str(tmp_path / "cube.npy"), str(tmp_path / "out"), str(tmp_path / "srf.npy")
    with pytest.raises(UsageError, match="not both or neither"):
        run_simulate(reference=ref, out=out, factor=4)
    with pytest.raises(UsageError, match="not both or neither"):
        run_simulate(reference=ref, out=out, factor=4, srf=r, pan=str(tmp_path / "pan.npy"))
    with pytest.raises(InputError, match=r"16 x 12 is not divisible by the factor 5"):
        run_simulate(reference=ref, out=out, factor=5, srf=r)
    with pytest.raises(UsageError, match="--spatial mtf"):
        run_simulate(reference=ref, out=out, factor=4, srf=r, sensor="QB")
    with pytest.raises(UsageError, match="sensor MTF"):
        run_simulate(reference=ref, out=out, factor=4, pan=str(tmp_path / "pan.npy"), spatial="block")
    with pytest.raises(InputError, match="pan is 48 x 36, expected 64 x 48"):
        run_simulate(reference=ref, out=out, factor=4, pan=str(tmp_path / "small.npy"))
    with pytest.raises(InputError, match="unknown --sensor 'XX'"):
        run_simulate(reference=ref, out=out, factor=4, pan=str(tmp_path / "pan.npy"), sensor="XX")
    path = run_simulate(reference=ref, out=out, factor=4, pan=str(tmp_path / "pan.npy"))
    case = read_case(path)
    assert case["task"] == "pan" and case["ratio"] == 4 and case["spatial"] == "mtf" and "wavelengths" not in case
    assert np.load(case["inputs"]["pan"]).shape == (16, 12) and np.load(case["inputs"]["ms"]).shape == (4, 3, 5)
    with pytest.raises(InputError, match=r"already holds case\.json"):
        run_simulate(reference=ref, out=out, factor=4, srf=r)


def test_run_simulate_on_real_data(shared: Path, tmp_path: Path) -> None:
    path = run_simulate(
        reference=str(shared / "fixtures/cave_balloons_crop64.npz"),
        out=str(tmp_path / "hs"),
        factor=8,
        srf=str(shared / "srf/nikon_d700_akhtar2014_400-700nm_10nm.csv"),
    )
    case = read_case(path)
    assert case["wavelengths_assumed"] is False and case["wavelengths"][0] == 400
    assert np.load(case["inputs"]["hsi"]).shape == (8, 8, 31) and np.load(case["inputs"]["guide"]).shape == (64, 64, 3)
    wv3 = shared / "pansharpening/wv3_fullres_example.mat"
    path = run_simulate(
        reference=f"{wv3}:I_MS_LR", pan=f"{wv3}:I_PAN", out=str(tmp_path / "pan"), factor=4, sensor="WV3", bit_depth=11
    )
    case = read_case(path)
    assert case["source"] == "wv3_fullres_example.mat:I_MS_LR" and case["gnyq"]["pan"] == 0.14
    assert np.load(case["inputs"]["ms"]).shape == (8, 8, 8) and np.load(case["inputs"]["pan"]).shape == (32, 32)


def test_simulated_blur_and_shift_are_a_case_input_that_bench_fuses_with(tmp_path: Path) -> None:
    from gdd.cli import main
    from gdd.simulate import simulation_kernel

    rng = np.random.default_rng(7)
    ref = (rng.random((32, 32, 12)) @ rng.random((12, 8)) / 6).astype(np.float32)
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "r.npy", rng.uniform(0.1, 1, (3, 8)))
    args = ["simulate", str(tmp_path / "ref.npy"), "--srf", str(tmp_path / "r.npy"), "--factor", "4",
            "--spatial", "gaussian", "--sigma", "1.5", "--shift", "1,-1"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "case")]) == 0
    case = json.loads((tmp_path / "case" / "case.json").read_text())
    assert case["inputs"]["kernel"] == "kernel.npy" and case["shift"] == [1, -1] and case["sigma"] == 1.5
    kernel = np.load(tmp_path / "case" / "kernel.npy")
    assert np.allclose(kernel, simulation_kernel(4, spatial="gaussian", sigma=1.5, shift=(1, -1)), atol=1e-7)
    # GSA-HS fused with the case's kernel recovers the reference better than with the unshifted Gaussian.
    assert main(["bench", str(tmp_path / "case"), "--methods", "gsa_hs", "--out", str(tmp_path / "b"),
                 "--no-figures", "--quiet"]) == 0  # fmt: skip
    with_kernel = json.loads((tmp_path / "b" / "rows.jsonl").read_text().splitlines()[0])["metrics"]["psnr"]
    (tmp_path / "case" / "case.json").write_text(
        json.dumps({**case, "inputs": {k: v for k, v in case["inputs"].items() if k != "kernel"}})
    )
    assert main(["bench", str(tmp_path / "case"), "--methods", "gsa_hs", "--out", str(tmp_path / "c"),
                 "--no-figures", "--quiet"]) == 0  # fmt: skip
    without = json.loads((tmp_path / "c" / "rows.jsonl").read_text().splitlines()[0])["metrics"]["psnr"]
    assert with_kernel > without + 1  # 30.1 against 28.3 dB when written
    assert main(["simulate", str(tmp_path / "ref.npy"), "--pan", str(tmp_path / "ref.npy"), "--factor", "4",
                 "--shift", "1,0", "--out", str(tmp_path / "p")]) == 2  # fmt: skip


def test_the_response_a_case_holds_simulates_the_same_case_again(tmp_path: Path) -> None:
    from gdd.cli import main

    rng = np.random.default_rng(3)
    np.save(tmp_path / "ref.npy", rng.random((16, 16, 8)).astype(np.float32))
    np.save(tmp_path / "r.npy", rng.uniform(0.1, 1, (3, 8)))
    base = ["simulate", str(tmp_path / "ref.npy"), "--factor", "4"]
    assert main([*base, "--srf", str(tmp_path / "r.npy"), "--out", str(tmp_path / "a")]) == 0
    # The case's srf.csv (K x C, no wavelength column) is a response matrix, not a table by wavelength.
    assert main([*base, "--srf", str(tmp_path / "a" / "srf.csv"), "--out", str(tmp_path / "b")]) == 0
    for name in ("srf.csv", "msi.npy"):
        a, b = (tmp_path / d / name for d in "ab")
        same = np.loadtxt(a, delimiter=",") if name.endswith(".csv") else np.load(a)
        np.testing.assert_allclose(np.loadtxt(b, delimiter=",") if name.endswith(".csv") else np.load(b), same)


def test_a_table_whose_header_names_micrometres_is_read_in_nanometres(tmp_path: Path) -> None:
    wl = np.arange(400.0, 701.0, 10.0)
    curves = np.stack([np.exp(-0.5 * ((wl - c) / 40) ** 2) for c in (470, 550, 620)], axis=1)
    tables = {"nm.csv": ("wavelength_nm,b,g,r", 1.0), "um.csv": ("wavelength_um,b,g,r", 1e-3),
              "micrometers.csv": ("wavelength (micrometers),b,g,r", 1e-3), "lambda.csv": ("lambda,b,g,r", 1e-3),
              "plain.csv": (None, 1e-3)}  # fmt: skip
    for name, (header, scale) in tables.items():  # without units, wavelengths below 30 are micrometres
        np.savetxt(tmp_path / name, np.column_stack([wl * scale, curves]), delimiter=",", header=header or "",
                   comments="")  # fmt: skip
    want = spectral_response(str(tmp_path / "nm.csv"), CAVE_WAVELENGTHS)
    for name in tables:
        np.testing.assert_allclose(spectral_response(str(tmp_path / name), CAVE_WAVELENGTHS), want, rtol=1e-12)


def test_a_row_between_the_band_centres_is_named_as_such(tmp_path: Path) -> None:
    wl = np.arange(380.0, 781.0)
    rows = [((wl >= lo) & (wl <= hi)).astype(float) for lo, hi in ((410, 420), (500, 560), (600, 660))]
    np.savetxt(tmp_path / "box.csv", np.column_stack([wl, *rows]), delimiter=",", header="wavelength,a,b,c",
               comments="")  # fmt: skip
    with pytest.raises(InputError, match=r"row\(s\) 1 fall between the image's band centres"):
        spectral_response(str(tmp_path / "box.csv"), np.arange(400.0, 701.0, 30.0))
