"""The headline claim, quick: per task, the default (held-out choices) is not worse than where it starts.

Small crops of the shared data and a few dozen steps, so that CI runs it; the full claim (the
bench at the CPU budget against every classic method) is ``benchmarks/bench_cases.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gdd.metrics import reduced_resolution
from gdd.problems import flash_problem, hs_problem, pan_problem, solve
from gdd.problems.classic import consistent, pan_classic, tame
from gdd.problems.holdout import choose_model
from gdd.simulate.degrade import simulate_pan

QUICK = dict(device="cpu", seed=0, iterations=60, width=16)


def _t(a: np.ndarray) -> torch.Tensor:
    a = a.astype(np.float32)
    return torch.from_numpy(a).permute(2, 0, 1)[None] if a.ndim == 3 else torch.from_numpy(a)[None, None]


def _psnr(x: torch.Tensor, ref: torch.Tensor, ratio: int) -> float:
    return float(reduced_resolution(x.detach().float().clamp(0, 1), ref, ratio=ratio)["psnr"])


def _cube(shared, scene: str) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """A 64 x 64 crop of a CAVE scene in [0, 1]: balloons' fixture, or rows/columns 320:384 and 64:128 of another."""
    if scene == "balloons":
        return _t(np.load(shared / "fixtures" / "cave_balloons_crop64.npz")["hsi"] / 65535.0)
    from gdd.io import read_image

    return _t(read_image(shared / "cave" / f"{scene}_ms")[320:384, 64:128])


# balloons is the bench's scene; feathers is one no default was chosen on (the same claim on it).
@pytest.mark.parametrize("scene", ["balloons", "feathers"])
def test_hs_default_is_not_worse_than_its_classic_start_on_a_noisy_pair(shared, scene: str) -> None:  # type: ignore[no-untyped-def]
    cube = _cube(shared, scene)
    lines = (shared / "srf" / "nikon_d700_akhtar2014_400-700nm_10nm.csv").read_text().splitlines()
    table = np.array([[float(v) for v in line.split(",")] for line in lines if line[:1].isdigit()])
    srf = torch.from_numpy(table[:, 1:].T.astype(np.float32))
    srf = srf / srf.sum(dim=1, keepdim=True)
    g = torch.Generator().manual_seed(0)
    hsi = torch.nn.functional.avg_pool2d(cube, 4)
    rgb = torch.einsum("kc,bchw->bkhw", srf, cube)
    hsi = hsi + hsi.std() * 10 ** (-30 / 20) * torch.randn(hsi.shape, generator=g)  # 30 dB
    rgb = rgb + rgb.std() * 10 ** (-30 / 20) * torch.randn(rgb.shape, generator=g)
    problem = hs_problem(hsi, rgb, srf, 4)
    result = solve(problem, **QUICK)  # type: ignore[arg-type]
    start = tame(problem.classic("gsa").float(), problem.baseline())  # type: ignore[misc]
    assert result.choice["rule"] == "holdout"
    # Not worse than the start up to rounding (0.02 dB; the refit of a residual that barely
    # moved is the start to 1e-4 dB, thread counts change the last digits). A choice that keeps
    # an estimate fitted without the held-out pixels is 0.09 dB below it here.
    assert _psnr(result.x, cube, 4) >= _psnr(start, cube, 4) - 0.02


def test_pan_default_is_not_worse_than_its_classic_start(shared) -> None:  # type: ignore[no-untyped-def]
    crop = np.load(shared / "fixtures" / "gdd_pan_im4_crop.npz")
    ms, pan, gt = _t(crop["ms"]), _t(crop["pan"]), _t(crop["gt"])
    problem = pan_problem(ms, pan, 4)
    result = solve(problem, **QUICK)  # type: ignore[arg-type]
    # The start the default chose, under the degradation model it chose.
    model = result.details["model_choice"]["chosen"]  # type: ignore[index]
    chosen = problem.alternatives[model]()
    init = result.details["start_rule"]["init"]  # type: ignore[index]
    start = tame(chosen.classic(init).float(), chosen.baseline())  # type: ignore[misc]
    assert _psnr(result.x, gt, 4) >= _psnr(start, gt, 4) - 0.02  # up to rounding, as above
    json.dumps(result.details["model_choice"])  # recorded, and plain data


def test_pan_chooses_the_degradation_that_made_the_pair_and_the_consistent_classic_image_is_better(shared) -> None:  # type: ignore[no-untyped-def]
    # Two pairs of which the right degradation is known: the authors' demo crop (its MS made by
    # bicubic reduction) and the Landsat-7 crop at reduced resolution by Wald's protocol (MTF).
    crop = np.load(shared / "fixtures" / "gdd_pan_im4_crop.npz")
    landsat = np.load(shared / "fixtures" / "landsat7_fusebox2_crop.npz")
    wald = simulate_pan(landsat["ms"].astype(np.float32) / 255, landsat["pan"].astype(np.float32) / 255, ratio=2)
    pairs = {
        "bicubic": (_t(crop["ms"]), _t(crop["pan"]), _t(crop["gt"]), 4),
        "mtf": (_t(wald["ms_lr"]), _t(wald["pan_lr"]), _t(wald["gt"]), 2),
    }
    for made_by, (ms, pan, gt, ratio) in pairs.items():
        problem = pan_problem(ms, pan, ratio)
        chosen, errors, _ = choose_model(problem, 0.1, seed=0)
        assert chosen == made_by, errors
        # Made consistent with the MS under that degradation, each classic start is the better image.
        under = problem.alternatives[made_by]()
        ms_term = next(t for t in under.make_terms() if t.name == "ms")
        for name in ("gsa", "sfim"):
            raw = tame(pan_classic(name, ms, pan, ratio).float(), under.baseline())
            made = consistent(raw, ms_term.operator, ms_term.target)  # type: ignore[arg-type]
            assert _psnr(made, gt, ratio) > _psnr(raw, gt, ratio) + 0.5, (made_by, name)


def test_flash_default_denoises_and_returns_an_iterate_chosen_on_held_out_pixels(shared) -> None:  # type: ignore[no-untyped-def]
    pair = np.load(shared / "fixtures" / "flash_noflash_crop128.npz")
    clean = _t(pair["noflash"][32:96, 32:96] / 255.0)
    guide = _t(pair["flash"][32:96, 32:96] / 255.0)
    noisy = clean + 0.08 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    # 600 steps: at the CPU preset's 250 this crop is still under-fitted (smoother than the photo).
    result = solve(flash_problem(noisy, guide), **{**QUICK, "iterations": 600})  # type: ignore[arg-type]
    assert result.choice["rule"] == "holdout"
    # How much it gains varies with the noise draw and the arithmetic: at the CPU preset, 600 steps
    # on this crop, noise seeds 0-3 gave +0.2 to +1.7 dB, the plain float32 path and channels-last
    # alike (means 0.99 and 0.96 dB), and seed 0 +0.3 dB on PyTorch 2.1.
    assert _psnr(result.x, clean, 1) > _psnr(noisy, clean, 1) + 0.2
