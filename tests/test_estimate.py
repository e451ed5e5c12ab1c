"""Estimating the spectral response, the blur and the MTF gain from the pair (gdd.estimate)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gdd.cli import main
from gdd.estimate import (
    CONSISTENCY_THRESHOLD,
    block_kernel,
    estimate_degradation,
    estimate_kernel,
    estimate_pan_degradation,
    estimate_srf,
    kernel_offset,
    pair_residual,
)
from gdd.operators import BlockAverage, GaussianDownsample, KernelDownsample, MTFDownsample
from gdd.simulate import simulate_hs, simulation_kernel


def _scene(gen: torch.Generator, c: int = 8, size: int = 64) -> torch.Tensor:
    """A random scene: c + 4 spectra mixed by blurred random abundances (enough to identify R)."""
    m = c + 4
    spectra = torch.rand(m, c, generator=gen, dtype=torch.float64)
    ab = torch.rand(1, m, size, size, generator=gen, dtype=torch.float64)
    ab = F.avg_pool2d(ab, 3, stride=1, padding=1, count_include_pad=False)
    return torch.einsum("bmhw,mc->bchw", ab, spectra)


def _srf(c: int) -> torch.Tensor:
    """Three smooth bumps across c bands, rows summing to 1."""
    t = torch.linspace(0, 1, c, dtype=torch.float64)
    r = torch.stack([torch.exp(-(((t - m) / 0.2) ** 2)) for m in (0.2, 0.5, 0.8)])
    return r / r.sum(1, keepdim=True)


def _gaussian2d(factor: int, shift: tuple[int, int] = (0, 0)) -> torch.Tensor:
    k1 = GaussianDownsample(factor).kernel1d.double()
    k = torch.outer(k1, k1)
    m = max(abs(shift[0]), abs(shift[1]))
    return torch.roll(F.pad(k, (m,) * 4), shift, dims=(0, 1)) if m else k


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def _pad_to(k: torch.Tensor, size: int) -> torch.Tensor:
    m = (size - k.shape[0]) // 2
    return F.pad(k, (m,) * 4)


def test_kernel_downsample_generalises_block_and_gaussian(gen: torch.Generator) -> None:
    x = torch.rand(1, 3, 16, 24, generator=gen, dtype=torch.float64)
    assert torch.allclose(KernelDownsample(block_kernel(4), 4).double()(x), BlockAverage(4)(x), atol=1e-12)
    assert torch.allclose(KernelDownsample(_gaussian2d(4), 4).double()(x), GaussianDownsample(4).double()(x), atol=1e-7)
    with pytest.raises(ValueError, match="parity"):
        KernelDownsample(torch.ones(5, 5), 4)


def test_srf_recovered_with_known_blur(gen: torch.Generator) -> None:
    x, r = _scene(gen), _srf(8)
    op = KernelDownsample(_gaussian2d(4), 4)
    est = estimate_srf(op(x), torch.einsum("kc,bchw->bkhw", r, x), 4, spatial=op)
    # Noise-free data: exact up to the smoothness prior's bias (7e-6 when written); a response
    # 1 % off in scale fails.
    assert _rel(est, r) < 1e-3
    assert (est >= 0).all()


def test_support_is_respected(gen: torch.Generator) -> None:
    x, r = _scene(gen), _srf(8)
    support = r > 0.05
    y, guide = BlockAverage(4)(x), torch.einsum("kc,bchw->bkhw", r, x)
    est = estimate_srf(y, guide, 4, support=support)
    assert (est[~support] == 0).all()
    with pytest.raises(ValueError, match=r"\(3, 8\) mask"):
        estimate_srf(y, guide, 4, support=support[:, :5])


@pytest.mark.parametrize("shift", [(0, 0), (1, -1), (2, 0)])
def test_kernel_and_srf_recovered_jointly_with_shift(gen: torch.Generator, shift: tuple[int, int]) -> None:
    x, r = _scene(gen, size=96), _srf(8)
    true = _gaussian2d(4, shift)
    y, guide = KernelDownsample(true, 4).double()(x), torch.einsum("kc,bchw->bkhw", r, x)
    d = estimate_degradation(y, guide, 4)
    # The largest errors when written, at shift (2, 0): response 0.005, kernel 0.047, offset
    # 0.023 px, residual 0.007.
    assert _rel(d.srf, r) < 0.02
    assert _rel(d.kernel, _pad_to(true, d.kernel.shape[0])) < 0.1
    assert abs(d.offset[0] - shift[0]) < 0.05 and abs(d.offset[1] - shift[1]) < 0.05
    assert abs(float(d.kernel.sum()) - 1) < 1e-9 and (d.kernel >= 0).all()
    assert d.consistent and d.residual < 0.02


def test_the_joint_estimate_reads_the_central_window_and_scores_the_whole_pair(gen: torch.Generator) -> None:
    x, r = _scene(gen, size=96), _srf(8)
    true = _gaussian2d(4, (1, 0))
    y, guide = KernelDownsample(true, 4).double()(x), torch.einsum("kc,bchw->bkhw", r, x)
    y[..., :4, :] += 0.5  # a band of rows the central window does not read, no longer fitting the model
    d = estimate_degradation(y, guide, 4, window=16)  # y is 24 x 24: rows and columns 4-19 read
    alone = estimate_degradation(y[..., 4:20, 4:20], guide[..., 16:80, 16:80], 4, window=None)
    assert torch.equal(d.srf, alone.srf) and torch.equal(d.kernel, alone.kernel)
    assert _rel(d.srf, r) < 0.02 and abs(d.offset[0] - 1) < 0.05
    # The residual is the whole pair's, the rows outside the window included.
    assert d.residual > 10 * alone.residual and not d.consistent
    everything = estimate_degradation(y, guide, 4, window=None)
    assert _rel(everything.srf, r) > 2 * _rel(d.srf, r)
    with pytest.raises(ValueError, match="window"):
        estimate_degradation(y, guide, 4, window=0)
    with pytest.raises(ValueError, match="window must be at least 4 low-resolution pixels for a 12 x 12 kernel"):
        estimate_degradation(y, guide, 4, window=3)  # would fall back to the border pixels
    # A single estimate (here the kernel, with the response given) reads every pixel.
    kernel_only = estimate_degradation(y, guide, 4, srf=r, window=16)
    assert torch.equal(kernel_only.kernel, estimate_degradation(y, guide, 4, srf=r, window=None).kernel)


def test_the_joint_estimates_matrix_is_bounded_by_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The least-squares matrix of a pair larger than the window has the window's rows, however large the pair."""
    import gdd.estimate.joint as joint
    from gdd.estimate import ESTIMATE_WINDOW

    shapes: list[tuple[int, ...]] = []
    real = joint.fit_penalised

    def spy(a: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        shapes.append(a.shape)
        return real(a, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(joint, "fit_penalised", spy)
    n, factor = ESTIMATE_WINDOW + 40, 2
    x = torch.rand(1, 3, n * factor, n * factor, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    estimate_degradation(F.avg_pool2d(x, factor), x[:, :2], factor, smoothness=1e-6)
    # A 3f-wide kernel at factor 2 leaves one low-resolution pixel out on each side.
    assert shapes == [(2 * (ESTIMATE_WINDOW - 2) ** 2, (3 * factor) ** 2 + 2 * 3)]


def test_kernel_with_known_srf_beats_the_block_start(gen: torch.Generator) -> None:
    x, r = _scene(gen), _srf(8)
    true = _gaussian2d(4, (1, 0))
    y, guide = KernelDownsample(true, 4).double()(x), torch.einsum("kc,bchw->bkhw", r, x)
    k = estimate_kernel(y, guide, r, 4)
    padded = _pad_to(true, k.shape[0])
    # 0.009 against the block kernel's 0.93 when written.
    assert _rel(k, padded) < 0.1 * _rel(block_kernel(4, k.shape[0]), padded)


def test_estimates_on_a_cave_crop_with_a_camera_curve(shared: Path) -> None:
    pytest.importorskip("colour")
    from gdd.io import to_tensor
    from gdd.simulate import CAVE_WAVELENGTHS, spectral_response

    cube = np.load(shared / "fixtures" / "cave_balloons_crop64.npz")["hsi"].astype(np.float32) / 65535
    srf = spectral_response("sigma-sdmerill", CAVE_WAVELENGTHS)
    case = simulate_hs(cube, factor=4, srf=srf, spatial="gaussian", sigma=1.5, shift=(1, 0))
    d = estimate_degradation(to_tensor(case["hsi"]), to_tensor(case["msi"]), 4)
    true_k = torch.from_numpy(simulation_kernel(4, spatial="gaussian", sigma=1.5, shift=(1, 0)))
    # Noise-free: response 2e-4, kernel 9e-5 and offset 1e-6 px off when written.
    assert _rel(d.srf, torch.from_numpy(case["srf"])) < 0.005
    assert _rel(d.kernel, _pad_to(true_k, d.kernel.shape[0])) < 0.005
    assert abs(d.offset[0] - 1) < 0.02 and abs(d.offset[1]) < 0.02


def test_inconsistent_pair_has_a_large_residual(gen: torch.Generator) -> None:
    x, r = _scene(gen), _srf(8)
    other = _scene(torch.Generator().manual_seed(99))
    d = estimate_degradation(BlockAverage(4)(x), torch.einsum("kc,bchw->bkhw", r, other), 4)
    assert not d.consistent and d.residual > CONSISTENCY_THRESHOLD


def test_pair_residual_zero_for_the_true_model(gen: torch.Generator) -> None:
    x, r = _scene(gen), _srf(8)
    op = GaussianDownsample(4).double()
    total, bands = pair_residual(op(x), torch.einsum("kc,bchw->bkhw", r, x), r, op)
    assert total < 1e-6 and len(bands) == 3


def test_pan_gain_and_weights_recovered(gen: torch.Generator) -> None:
    x = _scene(gen, c=4, size=128)
    w = torch.tensor([0.1, 0.3, 0.4, 0.2], dtype=torch.float64)
    pan = torch.einsum("c,bchw->bhw", w, x)[:, None]
    d = estimate_pan_degradation(MTFDownsample(4, 0.25).double()(x), pan, 4)
    # Noise-free: the gain 1e-4 and the weights 2e-4 off when written.
    assert abs(d.gnyq - 0.25) < 0.005
    assert _rel(d.weights, w) < 0.01 and d.consistent


def test_bad_estimation_inputs() -> None:
    x = torch.rand(1, 4, 16, 16)
    with pytest.raises(ValueError, match="times the factor"):
        estimate_srf(x[..., :4, :4], x[:, :3], 3)
    with pytest.raises(ValueError, match="smoothness"):
        estimate_srf(BlockAverage(4)(x), x[:, :3], 4, smoothness=-1)
    with pytest.raises(ValueError, match="a finite number"):
        estimate_srf(BlockAverage(4)(x), x[:, :3], 4, smoothness=float("inf"))
    for low, guide in ((torch.zeros(1, 4, 4, 4), x[:, :3]), (BlockAverage(4)(x), torch.zeros(1, 3, 16, 16))):
        with pytest.raises(ValueError, match="one value everywhere: there is nothing to estimate from"):
            estimate_degradation(low, guide, 4)  # an all-zero image divided by zero
    with pytest.raises(ValueError, match="kernel size"):
        estimate_degradation(BlockAverage(4)(x), x[:, :3], 4, size=5)
    with pytest.raises(ValueError, match="one band"):
        estimate_pan_degradation(BlockAverage(4)(x), x[:, :2], 4)
    assert kernel_offset(block_kernel(4, 8), 4) == (0.0, 0.0)


# --------------------------------------------------------------------------- the command line


def _files(tmp_path: Path, shift: tuple[int, int] = (1, 0), scramble: bool = False) -> dict[str, str]:
    x = _scene(torch.Generator().manual_seed(3), size=48)
    cube = x[0].permute(1, 2, 0).numpy()
    case = simulate_hs(cube, factor=4, srf=_srf(8).numpy(), spatial="gaussian", shift=shift)
    guide = case["msi"][::-1, ::-1].copy() if scramble else case["msi"]
    paths = {"hsi": tmp_path / "hsi.npy", "guide": tmp_path / "rgb.npy", "gt": tmp_path / "gt.npy"}
    np.save(paths["hsi"], case["hsi"])
    np.save(paths["guide"], guide)
    np.save(paths["gt"], case["gt"])
    return {k: str(v) for k, v in paths.items()}


def _hs_args(f: dict[str, str], out: Path, *extra: str) -> list[str]:
    return ["hs", "--hsi", f["hsi"], "--guide", f["guide"], "--factor", "4", "--iterations", "3", "--width", "8",
            "--device", "cpu", "--quiet", "--out", str(out), *extra]  # fmt: skip


def test_cli_estimates_and_writes_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _files(tmp_path)
    out = tmp_path / "res" / "fused.npy"
    assert main(_hs_args(f, out, "--srf", "estimate", "--blur", "estimate", "--json", str(tmp_path / "run.json"))) == 0
    text = capsys.readouterr()
    assert "estimated response 3 x 8 and blur 12 x 12 with offset (+1.00, +0.00) px: " in text.out
    # The record says what was estimated, as the console did.
    said = json.loads((tmp_path / "run.json").read_text())["settings"]["estimated"]
    assert said["estimated"] == ["response", "blur"] and said["kernel_size"] == [12, 12]
    assert (
        np.allclose(said["offset"], (1, 0), atol=0.01) and np.abs(np.array(said["srf"]) - _srf(8).numpy()).max() < 0.01
    )
    assert said["residual"] < 0.01 and str(tmp_path / "res" / "fused.srf.csv") in said["files"]
    assert "warning" not in text.err
    srf = np.loadtxt(tmp_path / "res" / "fused.srf.csv", delimiter=",", skiprows=1)
    assert srf.shape == (8, 3) and np.abs(srf.T - _srf(8).numpy()).max() < 0.01  # 8e-4 when written
    kernel = np.load(tmp_path / "res" / "fused.kernel.npy")
    assert kernel.shape == (12, 12) and abs(kernel.sum() - 1) < 1e-6
    assert (tmp_path / "res" / "fused.kernel.png").is_file() and (tmp_path / "res" / "fused.npy").is_file()
    # The written estimates are read back as given degradations.
    again = tmp_path / "again.npy"
    args = _hs_args(f, again, "--srf", str(tmp_path / "res" / "fused.srf.csv"), "--blur",
                    str(tmp_path / "res" / "fused.kernel.npy"), "--no-normalize-srf")  # fmt: skip
    assert main(args) == 0 and again.is_file()


def test_cli_warns_on_an_inconsistent_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _files(tmp_path, scramble=True)
    assert main(_hs_args(f, tmp_path / "fused.npy", "--srf", "estimate", "--blur", "estimate")) == 0
    err = capsys.readouterr().err
    assert "warning: the pair does not look consistent" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--srf", "estimate", "--blur", "estimate", "--spatial", "gaussian"], 2, "give --blur or --spatial"),
        (["--srf", "estimate", "--srf-support", "0-3,2-5"], 1, "gives 2 ranges for a guide of 3 bands"),
        (["--srf", "estimate", "--srf-support", "0-3,2-5,4-9"], 1, "bands 0 to 7"),
        (["--srf", "estimate", "--srf-support", "5-3,2-5,4-7"], 2, "0 <= LO <= HI"),
        (["--srf", "x.csv", "--srf-support", "0-3,2-5,4-7"], 2, "--srf estimate only"),
        (["--srf", "estimate", "--blur", "nope.npy"], 1, "nope.npy"),
    ],
)
def test_cli_bad_estimation_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], code: int, message: str
) -> None:
    f = _files(tmp_path)
    out = tmp_path / "fused.npy"
    assert main(_hs_args(f, out, *extra)) == code
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("gdd: error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt.npy", "hsi.npy", "rgb.npy"]


def test_cli_refuses_to_overwrite_estimates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _files(tmp_path)
    (tmp_path / "fused.srf.csv").write_text("keep")
    assert main(_hs_args(f, tmp_path / "fused.npy", "--srf", "estimate")) == 1
    assert "fused.srf.csv exists" in capsys.readouterr().err
    assert (tmp_path / "fused.srf.csv").read_text() == "keep" and not (tmp_path / "fused.npy").exists()


def test_cli_pan_spatial_estimate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = _scene(torch.Generator().manual_seed(5), c=4, size=96)
    pan = torch.einsum("c,bchw->bhw", torch.tensor([0.1, 0.3, 0.4, 0.2], dtype=torch.float64), x)
    np.save(tmp_path / "ms.npy", MTFDownsample(4, 0.3).double()(x)[0].permute(1, 2, 0).numpy())
    np.save(tmp_path / "pan.npy", pan[0].numpy())
    out = tmp_path / "fused.npy"
    args = ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4",
            "--spatial", "estimate", "--iterations", "2", "--width", "8", "--device", "cpu", "--quiet",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "estimated MS MTF gain 0.3" in capsys.readouterr().out
    lines = (tmp_path / "fused.pan-weights.csv").read_text().splitlines()
    values = dict(line.split(",") for line in lines[2:])
    assert lines[1] == "band,weight" and len(values) == 4 + 3
    # Noise-free: the gain and the weights 3e-5 off when written.
    assert abs(float(values["gnyq"]) - 0.3) < 0.002
    weights = [float(values[str(b)]) for b in range(1, 5)]
    assert np.abs(np.array(weights) - [0.1, 0.3, 0.4, 0.2]).max() < 0.002


def test_simulated_shift_is_the_kernel_moved() -> None:
    cube = np.random.default_rng(0).random((16, 16, 3))
    srf = np.ones((1, 3))
    moved = simulate_hs(cube, factor=4, srf=srf, spatial="gaussian", shift=(2, -1))["hsi"]
    kernel = simulation_kernel(4, spatial="gaussian", shift=(2, -1))
    x = torch.from_numpy(cube).permute(2, 0, 1)[None]
    expected = KernelDownsample(torch.from_numpy(kernel), 4).double()(x)[0].permute(1, 2, 0).numpy()
    assert np.abs(moved - expected).max() < 1e-6
    assert not np.allclose(moved, simulate_hs(cube, factor=4, srf=srf, spatial="gaussian")["hsi"], atol=1e-3)
    with pytest.raises(ValueError, match="shift applies"):
        simulate_hs(cube, factor=4, srf=srf, spatial="mtf", shift=(1, 0))


# --------------------------------------------------------------------------- given against estimated


def _pair(gen: torch.Generator, shift: int = 0, factor: int = 4) -> tuple[torch.Tensor, ...]:
    """A scene, its HS image (block average, moved ``shift`` pixels down and right) and its guide."""
    x = _scene(gen, size=64)
    x = x / x.max()
    moved = torch.roll(x, shifts=(shift, shift), dims=(-2, -1))
    return x.float(), BlockAverage(factor)(moved.float()), torch.einsum("kc,bchw->bkhw", _srf(8), x).float()


def test_the_check_keeps_consistent_degradations_and_finds_wrong_ones(gen: torch.Generator) -> None:
    from gdd.estimate import check_degradations

    _, y, guide = _pair(gen)
    block = BlockAverage(4)
    kept = check_degradations(y, guide, 4, _srf(8).float(), block)
    assert not kept.use_estimated and kept.given < 1e-5
    # A registration offset of one pixel, and a response of other bands: the estimate predicts better.
    _, moved, _ = _pair(torch.Generator().manual_seed(0), shift=1)
    x, _, guide = _pair(torch.Generator().manual_seed(0))
    shifted = check_degradations(moved, guide, 4, _srf(8).float(), block)
    assert shifted.use_estimated and shifted.estimated < 1e-4 < 0.01 < shifted.given
    assert shifted.degradation is not None
    assert np.allclose(shifted.degradation.offset, (-1.0, -1.0), atol=0.05)
    other = torch.roll(_srf(8), 2, dims=1).float()
    wrong = check_degradations(BlockAverage(4)(x), guide, 4, other, block)
    assert wrong.use_estimated and wrong.degradation is not None
    assert _rel(wrong.degradation.srf.double(), _srf(8)) < 0.05


def test_solve_fits_under_the_estimated_degradations_only_where_they_predict_better(gen: torch.Generator) -> None:
    from gdd.problems import hs_problem, solve

    x, moved, guide = _pair(gen, shift=1)
    settings = {"device": "cpu", "iterations": 40, "width": 8}
    checked = solve(hs_problem(moved, guide, _srf(8), 4), **settings)
    given = solve(hs_problem(moved, guide, _srf(8), 4, check_degradations=False), **settings)
    assert checked.details["degradations"]["chosen"] == "estimated"  # type: ignore[index]
    assert "degradations" not in given.details
    # The fit under the estimated offset is at least 1 dB closer to the scene (1.8 dB when written).
    err = [float(((r.x.clamp(0, 1) - x) ** 2).mean()) for r in (checked, given)]
    assert 10 * np.log10(err[1] / err[0]) > 1.0, err
    # Not where the check cannot run: nodata pixels, a factor above MAX_FACTOR, no held-out pixels.
    mask = torch.ones(16, 16, dtype=torch.bool)
    mask[0, 0] = False
    assert hs_problem(moved, guide, _srf(8), 4, hsi_mask=mask).check is None
    assert hs_problem(BlockAverage(16)(x), guide, _srf(8), 16).check is None
    plain = solve(hs_problem(moved, guide, _srf(8), 4), device="cpu", iterations=3, width=8, holdout=0.0)
    assert "degradations" not in plain.details


def test_cli_says_which_degradations_it_used_and_keeps_the_given_ones_when_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    f = _files(tmp_path, shift=(1, 1))
    np.savetxt(tmp_path / "srf.csv", _srf(8).numpy(), delimiter=",")
    args = _hs_args(f, tmp_path / "a.npy", "--srf", str(tmp_path / "srf.csv"), "--spatial", "gaussian",
                    "--json", str(tmp_path / "a.json"))  # fmt: skip
    args.remove("--quiet")
    assert main(args) == 0
    assert "degradations: estimated from the pair" in capsys.readouterr().out
    assert json.loads((tmp_path / "a.json").read_text())["settings"]["degradations"]["chosen"] == "estimated"
    keep = [a if a != str(tmp_path / "a.json") else str(tmp_path / "b.json") for a in args]
    keep[keep.index(str(tmp_path / "a.npy"))] = str(tmp_path / "b.npy")
    assert main([*keep, "--keep-degradations"]) == 0
    assert "degradations:" not in capsys.readouterr().out
    assert "degradations" not in json.loads((tmp_path / "b.json").read_text())["settings"]


def test_solve_many_checks_the_degradations_as_solve_does(gen: torch.Generator) -> None:
    from gdd.problems import hs_problem, solve, solve_many

    _, moved, guide = _pair(gen, shift=1)
    settings = {"device": "cpu", "iterations": 4, "width": 8}
    one = solve(hs_problem(moved, guide, _srf(8), 4), **settings)
    [many] = solve_many([hs_problem(moved, guide, _srf(8), 4)], **settings)
    assert many.details["degradations"]["chosen"] == one.details["degradations"]["chosen"] == "estimated"  # type: ignore[index]
    assert torch.allclose(many.x, one.x, atol=1e-3)


def test_a_tiled_run_checks_the_degradations_on_its_central_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    f = _files(tmp_path, shift=(1, 1))
    np.savetxt(tmp_path / "srf.csv", _srf(8).numpy(), delimiter=",")
    gt = np.load(f["gt"])
    errors = {}
    for name, extra in (("checked", ()), ("kept", ("--keep-degradations",))):
        args = _hs_args(f, tmp_path / f"{name}.npy", "--srf", str(tmp_path / "srf.csv"), "--spatial", "gaussian",
                        "--tile", "32", "--overlap", "8", "--json", str(tmp_path / f"{name}.json"), *extra)  # fmt: skip
        assert main(args) == 0
        out = capsys.readouterr().out
        settings = json.loads((tmp_path / f"{name}.json").read_text())["settings"]
        errors[name] = float(((np.load(tmp_path / f"{name}.npy") - gt) ** 2).mean())
        if name == "checked":
            assert "degradations: estimated from the pair" in out and "used by every tile" in out
            assert settings["degradations"]["chosen"] == "estimated"
        else:
            assert "degradations:" not in out and "degradations" not in settings
    # Every tile is fitted under the estimated offset: closer to the scene than under the given blur.
    # (1.1 dB when written: three steps from GSA-HS, which uses the blur too.)
    assert 10 * np.log10(errors["kept"] / errors["checked"]) > 0.5, errors


def test_the_docs_estimate_sizes_are_the_committed_measurement() -> None:
    """docs/own-data.md's figures of the joint estimate's window are estimate-size-cpu.json's."""
    import json

    from gdd.estimate import ESTIMATE_WINDOW

    root = Path(__file__).resolve().parents[1]
    report = json.loads((root / "benchmarks" / "results" / "estimate-size-cpu.json").read_text())
    text = " ".join((root / "docs" / "own-data.md").read_text().split())
    w = report["window"]
    assert w == ESTIMATE_WINDOW and f"central {w} x {w} low-resolution pixels" in text
    matrix, runs = report["matrix_gib"], report["runs"]
    assert f"{matrix[str(w)]:.2f} GiB at that window and {matrix['341']:.2f} GiB" in text
    for size, window, said in ((128, "default", "a 128 x 128 pair took"), (128, "none", "and"),
                               (256, "default", "one")):  # fmt: skip
        run = runs[f"{size} x {size}, window {window}"]
        assert f"{said} {run['seconds']:.0f} s and {run['peak_gib']:.2f} GiB" in text
        assert run["srf_error"] < 1e-6  # a noise-free pair: the response is found either way
    assert runs["128 x 128, window none"]["peak_gib"] > 1.3 * runs["128 x 128, window default"]["peak_gib"]


def test_cli_says_when_the_estimate_read_the_central_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = torch.rand(1, 4, 196, 196, generator=torch.Generator().manual_seed(0))
    np.save(tmp_path / "hsi.npy", F.avg_pool2d(x, 2)[0].permute(1, 2, 0).numpy())
    np.save(tmp_path / "rgb.npy", x[0, :2].permute(1, 2, 0).numpy())
    args = ["hs", "--hsi", str(tmp_path / "hsi.npy"), "--guide", str(tmp_path / "rgb.npy"), "--factor", "2",
            "--srf", "estimate", "--blur", "estimate", "--iterations", "2", "--width", "8", "--device", "cpu",
            "--quiet", "--out", str(tmp_path / "fused.npy")]  # fmt: skip
    assert main(args) == 0
    assert "(from the central 96 x 96 low-resolution pixels): " in capsys.readouterr().out
    # The response alone under a given blur reads every pixel, and the line says nothing of a window.
    blur = args.index("--blur")
    alone = [*args[:blur], "--spatial", "gaussian", *args[blur + 2 : -1]]
    assert main([*alone, str(tmp_path / "alone.npy")]) == 0
    out = capsys.readouterr().out
    assert "estimated response 2 x 4" in out and "central" not in out


@pytest.mark.parametrize(("factor", "size"), [(2, 2), (3, 9), (4, 12), (4, 6), (8, 24), (5, 15)])
def test_fewest_rows_is_where_the_interior_starts_to_hold_two_rows(factor: int, size: int) -> None:
    from gdd.estimate.lstsq import fewest_rows, interior

    pad = (size - factor) // 2
    n = fewest_rows(factor, pad, size)
    assert len(range(n)[interior(n, factor, pad, size)]) >= 2
    if pad:  # a true interior leaves the border rows out; one row fewer falls back to every row
        assert interior(n, factor, pad, size).start > 0
        assert interior(n - 1, factor, pad, size) == slice(0, n - 1)
    else:  # no border: one row fewer is a single row
        assert n == 2


def test_a_pair_the_check_cannot_estimate_on_keeps_the_given_degradations_and_says_why(gen: torch.Generator) -> None:
    from gdd.problems import hs_problem
    from gdd.problems.said import rule_line

    _, y, guide = _pair(gen)
    # Too few low-resolution pixels to split in halves, and a constant guide: nothing to estimate on.
    for hsi, rgb, why in (
        (y[..., :2, :2], guide[..., :8, :8], "too small"),
        (y, torch.zeros_like(guide), "the guide is constant"),
    ):
        problem = hs_problem(hsi, rgb, _srf(8).float(), 4)
        assert problem.check is not None
        better, details = problem.check()
        assert better is None and details["chosen"] == "given" and why in str(details["skipped"])
        assert rule_line({"degradations": details}).startswith("degradations: as given (not checked against the pair")
