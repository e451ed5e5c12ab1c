from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from gdd.cli import main
from gdd.simulate import simulate_hs, write_case

FAST = ["--iterations", "3", "--device", "cpu", "--quiet"]


def _smooth(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    from scipy import ndimage

    return (ndimage.gaussian_filter(rng.random(shape), sigma=(2, 2, 0)) * 0.8 + 0.1).astype(np.float32)


@pytest.fixture
def cases(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    cube = _smooth(rng, (32, 32, 6))
    srf = rng.random((3, 6))
    arrays = simulate_hs(cube, factor=4, srf=srf)
    hs = write_case(
        tmp_path / "hs_case", arrays, {"task": "hs", "factor": 4, "spatial": "block", "source": "synthetic"}
    )
    # A full-resolution pansharpening case: no reference.
    pan_dir = tmp_path / "pan_case"
    pan_dir.mkdir()
    ms = _smooth(rng, (8, 8, 4))
    np.save(pan_dir / "ms.npy", ms)
    np.save(pan_dir / "pan.npy", ms.repeat(4, 0).repeat(4, 1).mean(axis=2) + 0.01 * rng.random((32, 32)))
    (pan_dir / "case.json").write_text(
        json.dumps({"gdd_case": 1, "task": "pan", "ratio": 4, "inputs": {"ms": "ms.npy", "pan": "pan.npy"}})
    )
    return {"hs": hs.parent, "pan": pan_dir}


def test_bench_tables_figures_and_resume(tmp_path: Path, cases: dict[str, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "bench"
    argv = ["bench", str(cases["hs"]), str(cases["pan"]), "--out", str(out), "--methods", "gdd,exp,gsa", *FAST]
    # gsa is a pansharpening method: on the hs case it is a usage error, before anything runs.
    assert main(argv) == 2
    assert "not an HS fusion method" in capsys.readouterr().err
    argv = ["bench", str(cases["hs"]), "--out", str(out), "--methods", "gdd,exp,gsa-hs,cnmf", *FAST]
    assert main(argv) == 0
    table = (out / "bench.md").read_text()
    for label in ("GDD", "EXP", "GSA-HS", "CNMF", "PSNR", "SAM", "ERGAS", "Q2n", "SSIM", "seconds"):
        assert label in table
    rows = list(csv.DictReader((out / "bench.csv").read_text().splitlines()))
    assert [r["method"] for r in rows] == ["gdd", "exp", "gsa_hs", "cnmf"]
    psnr = {r["method"]: float(r["psnr"]) for r in rows}
    sam = {r["method"]: float(r["sam"]) for r in rows}
    # Three GDD steps from the GSA-HS start keep its lead over bicubic interpolation (EXP):
    # 40.0 against 37.5 dB when written.
    assert psnr["gdd"] > psnr["exp"] and psnr["gsa_hs"] > psnr["exp"] and sam["gdd"] < sam["exp"]
    # The table shows the CSV's numbers, on its method's line and under its metric's label.
    lines = table.splitlines()
    header = [c.strip() for c in next(x for x in lines if x.startswith("| method |")).strip("|").split("|")]
    for r in rows:
        label = {"gdd": "GDD", "exp": "EXP", "gsa_hs": "GSA-HS", "cnmf": "CNMF"}[r["method"]]
        line = next(x for x in lines if x.startswith(f"| {label} "))
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        assert cells[header.index("PSNR")] == f"{float(r['psnr']):.2f}", (header, line, r)
        assert cells[header.index("SAM")] == f"{float(r['sam']):.3f}", (header, line, r)
    assert (out / "hs_case.png").is_file() and (out / "hs_case" / "gdd.npy").is_file()
    # A second run refuses to overwrite; --resume only runs what is missing.
    assert main(argv) == 1
    assert "--resume" in capsys.readouterr().err
    more = ["bench", str(cases["hs"]), str(cases["pan"]), "--out", str(out), "--resume", *FAST,
            "--methods", "gdd,exp,dip"]  # fmt: skip
    assert main(more) == 0
    lines = [json.loads(x) for x in (out / "rows.jsonl").read_text().splitlines()]
    done = [(r["case"], r["method"]) for r in lines]
    assert done[:4] == [("hs_case", m) for m in ("gdd", "exp", "gsa_hs", "cnmf")]
    assert set(done[4:]) == {("hs_case", "dip"), ("pan_case", "gdd"), ("pan_case", "exp"), ("pan_case", "dip")}
    full = [r for r in lines if r["case"] == "pan_case"]
    assert all(r["protocol"] == "full" and {"d_lambda", "d_s", "qnr", "hqnr"} <= set(r["metrics"]) for r in full)
    assert "QNR" in (out / "bench.md").read_text()


def test_bench_bad_cases(tmp_path: Path, cases: dict[str, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["bench", str(tmp_path / "nothing"), "--out", str(tmp_path / "o"), *FAST]) == 1
    assert "no case.json" in capsys.readouterr().err
    assert main(["bench", str(cases["hs"]), "--out", str(tmp_path / "o"), "--methods", "magic", *FAST]) == 2
    assert "unknown method 'magic'" in capsys.readouterr().err
    # A case folder holds its response and factor: others given would not be used.
    assert main(["bench", str(cases["hs"]), "--out", str(tmp_path / "o"), "--factor", "8", *FAST]) == 2
    assert "--factor simulate a case from a reference image; a case folder holds its own" in capsys.readouterr().err
    (cases["pan"] / "pan.npy").unlink()
    assert main(["bench", str(cases["pan"]), "--out", str(tmp_path / "o"), *FAST]) == 1
    assert "pan.npy is missing" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_full_resolution_case_is_scored_with_the_sensor_it_names(tmp_path: Path, cases: dict[str, Path]) -> None:
    """D_lambda (Khan) and HQNR use the named sensor's MTF, as `gdd eval --sensor` does."""
    from gdd.io import to_tensor
    from gdd.metrics import full_resolution

    spec = json.loads((cases["pan"] / "case.json").read_text())
    (cases["pan"] / "case.json").write_text(json.dumps({**spec, "sensor": "QB"}))
    out = tmp_path / "o"
    assert main(["bench", str(cases["pan"]), "--out", str(out), "--methods", "exp", "--quiet", "--no-figures"]) == 0
    (row,) = [json.loads(x) for x in (out / "rows.jsonl").read_text().splitlines()]
    x, ms = to_tensor(np.load(out / "pan_case" / "exp.npy")), to_tensor(np.load(cases["pan"] / "ms.npy"))
    pan = to_tensor(np.load(cases["pan"] / "pan.npy")[..., None])
    qb = full_resolution(x.clamp(0, 1), ms, pan, ratio=4, sensor="QB")
    # A sensor gdd does not know is refused when the case is read, before any method runs.
    (cases["pan"] / "case.json").write_text(json.dumps({**spec, "sensor": "QB2"}))
    assert main(["bench", str(cases["pan"]), "--out", str(tmp_path / "o2"), "--methods", "exp", "--quiet"]) == 1
    assert not (tmp_path / "o2" / "rows.jsonl").exists()
    none = full_resolution(x.clamp(0, 1), ms, pan, ratio=4)
    assert qb["hqnr"] != none["hqnr"]  # the sensor matters on this pair
    assert row["metrics"]["hqnr"] == pytest.approx(qb["hqnr"], abs=1e-6), (row["metrics"], qb, none)


def test_bench_simulates_a_reference_given_as_a_case(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    np.save(tmp_path / "cube.npy", _smooth(rng, (32, 32, 6)))
    np.save(tmp_path / "srf.npy", rng.random((3, 6)))
    out = tmp_path / "o"
    argv = ["bench", str(tmp_path / "cube.npy"), "--out", str(out), "--methods", "exp,gsa_hs", "--quiet"]
    assert main(argv) == 2
    assert "give --srf and --factor" in capsys.readouterr().err
    assert main([*argv, "--srf", str(tmp_path / "srf.npy"), "--factor", "4"]) == 0
    assert (out / "cases" / "cube" / "case.json").is_file()
    assert "GSA-HS" in (out / "bench.md").read_text()


def test_resume_after_a_cut_last_line(tmp_path: Path, cases: dict[str, Path]) -> None:
    out = tmp_path / "o"
    argv = ["bench", str(cases["hs"]), "--out", str(out), "--methods", "exp,gsa_hs", "--quiet"]
    assert main(argv) == 0
    state = out / "rows.jsonl"
    lines = state.read_text().splitlines()
    state.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # an interrupted write
    assert main([*argv, "--resume"]) == 0
    rows = [json.loads(x) for x in state.read_text().splitlines() if x.strip().endswith("}")]
    assert sorted(r["method"] for r in rows) == ["exp", "gsa_hs"]


def test_a_resumed_bench_keeps_the_settings_its_rows_were_made_with(  # type: ignore[no-untyped-def]
    tmp_path: Path, cases: dict[str, Path], capsys
) -> None:
    out = tmp_path / "o"
    argv = ["bench", str(cases["hs"]), "--out", str(out), "--methods", "exp", "--device", "cpu", "--quiet"]
    assert main([*argv, "--iterations", "2"]) == 0
    more = [*argv, "--methods", "exp,gsa_hs", "--resume"]
    capsys.readouterr()
    assert main([*more, "--iterations", "3"]) == 1  # its rows would sit beside rows of 2 steps
    err = capsys.readouterr().err
    assert "holds rows made with iterations 2 (now 3)" in err and err.count("\n") == 1, err
    assert main([*more, "--iterations", "2"]) == 0  # the same settings go on
    assert "GSA-HS" in (out / "bench.md").read_text()
    assert main([*argv, "--iterations", "3", "--force"]) == 0  # a new run


def test_bench_budget_sets_the_preset_on_any_device(tmp_path: Path, cases: dict[str, Path], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import gdd.bench

    seen: list[dict[str, object]] = []
    real = gdd.bench.solve

    def spy(problem, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs)
        return real(problem, **{**kwargs, "iterations": 2, "width": 8})

    monkeypatch.setattr(gdd.bench, "solve", spy)
    argv = ["bench", str(cases["pan"]), "--out", str(tmp_path / "o"), "--methods", "gdd,gdd_authors",
            "--budget", "authors", "--device", "cpu", "--quiet", "--no-figures"]  # fmt: skip
    assert main(argv) == 0
    # GDD with the authors' preset on the CPU; the authors' GDD at the same 8001 steps.
    assert seen[0]["budget"] == "authors" and seen[0]["iterations"] is None
    assert seen[1]["budget"] == "authors" and seen[1]["iterations"] == 8001


def test_the_default_moved_from_the_start_it_was_fitted_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A misregistered pair: the default fits under the estimated degradations, and "moved" is from that start."""
    from dataclasses import replace

    from scipy import ndimage

    import gdd.problems.tasks
    from gdd.bench import _problem, _run_method, load_case
    from gdd.metrics import psnr
    from gdd.problems.classic import tame
    from gdd.problems.solve import checked_problem

    rng = np.random.default_rng(0)
    cube = (ndimage.gaussian_filter(rng.random((64, 64, 6)), sigma=(2, 2, 0)) * 0.8 + 0.1).astype(np.float32)
    arrays = simulate_hs(cube, factor=4, srf=rng.random((3, 6)), shift=(1, 1))
    case = load_case(write_case(tmp_path / "c", arrays, {"task": "hs", "factor": 4, "spatial": "block"}))
    case = replace(case, inputs={k: v for k, v in case.inputs.items() if k != "kernel"})  # not told of the shift
    assert case.reference is not None
    reference = case.reference if case.reference.ndim == 4 else case.reference[None]
    calls = []
    real = gdd.problems.tasks.check_degradations
    monkeypatch.setattr(gdd.problems.tasks, "check_degradations", lambda *a, **k: calls.append(1) or real(*a, **k))
    _, info = _run_method(case, "gdd", device="cpu", seed=0, iterations=5)
    assert info["degradations"]["chosen"] == "estimated"
    # The degradations were estimated once, for the fit; judging the start after it reused that answer.
    assert len(calls) == 1 and info["degradations"]["seconds"] > 0
    given, estimated = _problem(case), checked_problem(_problem(case))[0]
    starts = [psnr(tame(p.classic("gsa").float(), p.baseline()).clamp(0, 1), reference) for p in (given, estimated)]  # type: ignore[misc]
    assert starts[1] > starts[0] + 0.1  # the estimate helps the classic image too
    assert info["start"]["name"] == "gsa" and info["start"]["psnr"] == pytest.approx(starts[1], abs=1e-9)
