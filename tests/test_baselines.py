"""Classic fusion baselines: shapes, dtypes, known answers, that each beats interpolation, and
that each stays within a stated range of its observed image on every shared real case."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gdd.baselines import (
    HS_FUSION,
    METHOD_NAMES,
    PANSHARPENING,
    brovey,
    cnmf,
    exp,
    glp_hs,
    gs,
    gsa,
    gsa_hs,
    interp23tap,
    mtf_glp,
    mtf_glp_hpm,
    pca,
    sfim,
)
from gdd.baselines.common import MAX_GAIN, modulate
from gdd.io import read_matrix, to_tensor
from gdd.operators import BlockAverage, imresize, make_spatial
from gdd.sensors import mtf_decimate, sensor_gnyq

F64 = torch.float64


def _rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).pow(2).mean().sqrt())


def _field(n: int, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """A zero-mean, unit-variance random field, Gaussian-smoothed (periodic) with ``sigma`` pixels."""
    z = torch.randn(n, n, generator=gen, dtype=F64)
    f = torch.fft.fftfreq(n, dtype=F64)
    g = torch.exp(-2 * (math.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    s = torch.fft.ifft2(torch.fft.fft2(z) * g).real
    return ((s - s.mean()) / s.std())[None, None]


def _multiscale(n: int, gen: torch.Generator) -> torch.Tensor:
    """Structure at several scales, most of the variance at the coarse ones (as in natural images)."""
    return 0.12 * _field(n, 8, gen) + 0.06 * _field(n, 3, gen) + 0.03 * _field(n, 1.5, gen)


def _pan_scene(gen: torch.Generator, *, bands: int = 4, n: int = 64) -> torch.Tensor:
    """x_i = a_i s + b_i: every band is an affine function of one multi-scale scene s."""
    s = 0.5 + _multiscale(n, gen)
    a = 0.6 + 0.8 * torch.rand(1, bands, 1, 1, generator=gen, dtype=F64)
    b = 0.1 * torch.rand(1, bands, 1, 1, generator=gen, dtype=F64)
    return a * s + b


def _hs_scene(gen: torch.Generator, *, bands: int = 16, n: int = 32, endmembers: int = 6) -> tuple[torch.Tensor, ...]:
    """A linear mixture of smooth spectra with sum-to-one abundances, and an RGB-like (3, C) response."""
    logits = torch.cat(
        [2 * _field(n, 8, gen) + _field(n, 3, gen) + 0.5 * _field(n, 1.5, gen) for _ in range(endmembers)], 1
    )
    abundances = torch.softmax(logits, dim=1)
    wl = torch.linspace(0, 1, bands, dtype=F64)
    centres = torch.rand(endmembers, 2, generator=gen, dtype=F64)
    spectra = (
        0.2
        + 0.6 * torch.exp(-(((wl - centres[:, :1]) / 0.3) ** 2))
        + 0.2 * torch.exp(-(((wl - centres[:, 1:]) / 0.15) ** 2))
    )
    x = torch.einsum("mc,bmhw->bchw", spectra, abundances)
    srf = torch.exp(-(((wl[None] - torch.tensor([[0.15], [0.5], [0.85]], dtype=F64)) / 0.15) ** 2))
    srf = srf / srf.sum(dim=1, keepdim=True)
    return x, srf, torch.einsum("kc,bchw->bkhw", srf, x)


def _symmetric(x: torch.Tensor, p: int, dim: int) -> torch.Tensor:
    """MATLAB's 'symmetric' padding (the edge sample repeated) along one axis."""
    n = x.shape[dim]
    head, tail = x.narrow(dim, 0, p).flip(dim), x.narrow(dim, n - p, p).flip(dim)
    return torch.cat([head, x, tail], dim=dim)


def _b3_filter_bank(x: torch.Tensor, ratio: int) -> torch.Tensor:
    """Reference reading of the toolbox's LPfilterPlusDec: per level (ndwt2 dilates nothing) the B3
    spline for analysis and again for synthesis, details zeroed; then keep pixel ratio // 2 of each block."""
    b3 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=F64) / 16
    c = x.shape[1]
    for _ in range(2 * int(math.log2(ratio))):
        x = _symmetric(_symmetric(x, 2, -2), 2, -1)
        x = F.conv2d(x, b3.view(1, 1, 5, 1).repeat(c, 1, 1, 1), groups=c)
        x = F.conv2d(x, b3.view(1, 1, 1, 5).repeat(c, 1, 1, 1), groups=c)
    return x[..., ratio // 2 :: ratio, ratio // 2 :: ratio]


# --------------------------------------------------------------------------- registry, shapes, dtypes


def test_registries_and_display_names() -> None:
    assert list(PANSHARPENING) == ["exp", "brovey", "pca", "gs", "gsa", "mtf_glp", "mtf_glp_hpm", "sfim"]
    assert list(HS_FUSION) == ["gsa_hs", "sfim_hs", "glp_hs", "cnmf"]
    assert set(METHOD_NAMES) == set(PANSHARPENING) | set(HS_FUSION)
    assert [METHOD_NAMES[k] for k in ("exp", "mtf_glp", "mtf_glp_hpm", "gsa_hs")] == [
        "EXP",
        "MTF-GLP",
        "MTF-GLP-HPM",
        "GSA-HS",
    ]


@pytest.mark.parametrize("name", list(PANSHARPENING))
def test_pansharpening_shape_dtype_device(name: str, gen: torch.Generator, device: torch.device) -> None:
    for dtype in (torch.float32, torch.float64):
        if device.type == "mps" and dtype == F64:
            continue
        ms = torch.rand(1, 3, 5, 7, generator=gen).to(device=device, dtype=dtype)
        pan = torch.rand(1, 1, 20, 28, generator=gen).to(device=device, dtype=dtype)
        y = PANSHARPENING[name](ms, pan, ratio=4)
        assert y.shape == (1, 3, 20, 28) and y.dtype == dtype and y.device.type == device.type
        assert torch.isfinite(y).all()
    # other ratios: 2 and 8 with the 23-tap interpolator, 3 with bicubic; integer input gives float32
    for ratio, upsample in ((2, "interp23tap"), (8, "interp23tap"), (3, "bicubic")):
        ms8 = torch.randint(0, 255, (1, 2, 3, 2), generator=gen, dtype=torch.uint8)
        pan8 = torch.randint(1, 255, (1, 1, 3 * ratio, 2 * ratio), generator=gen, dtype=torch.uint8)
        y = PANSHARPENING[name](ms8, pan8, ratio=ratio, upsample=upsample)
        assert y.shape == (1, 2, 3 * ratio, 2 * ratio) and y.dtype == torch.float32 and torch.isfinite(y).all()


@pytest.mark.parametrize("name", list(HS_FUSION))
def test_hs_fusion_shape_dtype_device(name: str, gen: torch.Generator, device: torch.device) -> None:
    options = {"iterations": 1, "inner_iterations": 5, "endmembers": 3} if name == "cnmf" else {}
    for dtype in (torch.float32, torch.float64):
        if device.type == "mps" and dtype == F64:
            continue
        hsi = torch.rand(1, 7, 3, 5, generator=gen).to(device=device, dtype=dtype)
        msi = torch.rand(1, 3, 12, 20, generator=gen).to(device=device, dtype=dtype)
        y = HS_FUSION[name](hsi, msi, factor=4, srf=torch.rand(3, 7, generator=gen), **options)
        assert y.shape == (1, 7, 12, 20) and y.dtype == dtype and y.device.type == device.type
        assert torch.isfinite(y).all()


# --------------------------------------------------------------------------- the 23-tap interpolator


@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_interp23tap_keeps_the_samples(ratio: int, gen: torch.Generator) -> None:
    x = torch.rand(1, 2, 5, 6, generator=gen, dtype=F64)
    y = interp23tap(x, ratio=ratio)
    assert y.shape == (1, 2, 5 * ratio, 6 * ratio)
    torch.testing.assert_close(y[..., ratio // 2 :: ratio, ratio // 2 :: ratio], x, rtol=0, atol=1e-12)


def test_interp23tap_impulse_response() -> None:
    # The toolbox's 23 taps (interp23tap.m): 2 * [0.5, 0.305334091185, 0, -0.072698593239, ...]; the
    # neighbour of an upsampled impulse gets the first tap, two neighbours away the tap is zero.
    x = torch.zeros(1, 1, 16, 16, dtype=F64)
    x[..., 8, 8] = 1.0
    y = interp23tap(x, ratio=2)
    centre = 2 * 8 + 1
    assert float(y[0, 0, centre, centre]) == pytest.approx(1.0, abs=1e-12)
    assert float(y[0, 0, centre, centre + 1]) == pytest.approx(0.61066818237, abs=1e-12)
    assert float(y[0, 0, centre + 3, centre]) == pytest.approx(-0.145397186478, abs=1e-12)
    assert float(y[0, 0, centre, centre + 2]) == pytest.approx(0.0, abs=1e-12)
    assert float(y.sum()) == pytest.approx(4.0, abs=1e-7)  # the published taps are rounded


# --------------------------------------------------------------------------- known answers


def test_component_substitution_on_a_one_scene_cube(gen: torch.Generator) -> None:
    """Every band an affine function of one scene and the PAN their mean: CS methods come near it."""
    x = _pan_scene(gen)
    ms, pan = BlockAverage(4)(x), x.mean(dim=1, keepdim=True)
    base = _rmse(exp(ms, pan, ratio=4), x)
    for method in (brovey, pca, gs):
        assert _rmse(method(ms, pan, ratio=4), x) < 0.5 * base, method.__name__


def test_gsa_is_exact_when_the_ms_is_degraded_like_its_pan(gen: torch.Generator) -> None:
    """GSA's regression of the degraded PAN on the MS is then exact, and so is the substitution."""
    x = _pan_scene(gen)
    pan = x.mean(dim=1, keepdim=True)
    ms = _b3_filter_bank(x, 4)
    for upsample in ("interp23tap", "bicubic"):
        base = _rmse(exp(ms, pan, ratio=4, upsample=upsample), x)
        assert _rmse(gsa(ms, pan, ratio=4, upsample=upsample), x) < 0.05 * base


@pytest.mark.parametrize("sensor", ["QB", "none"])
def test_mtf_methods_are_exact_when_the_ms_is_mtf_degraded(sensor: str, gen: torch.Generator) -> None:
    """The toolbox's protocol: MS = MTF filter + decimation; GLP's low-pass of the PAN then matches it."""
    x = _pan_scene(gen)
    pan = x.mean(dim=1, keepdim=True)
    ms = mtf_decimate(x, 4, sensor_gnyq(sensor, 4))
    base = _rmse(exp(ms, pan, ratio=4), x)
    for injection in ("regression", "unit"):
        assert _rmse(mtf_glp(ms, pan, ratio=4, sensor=sensor, injection=injection), x) < 0.05 * base
    assert _rmse(mtf_glp_hpm(ms, pan, ratio=4, sensor=sensor), x) < 0.05 * base


@pytest.mark.parametrize("upsample", ["interp23tap", "bicubic"])
def test_a_pan_without_detail_leaves_the_interpolated_ms(upsample: str, gen: torch.Generator) -> None:
    """PAN = the intensity of the interpolated MS: nothing to inject beyond the MS's resolution."""
    a = 0.6 + 0.8 * torch.rand(1, 4, 1, 1, generator=gen, dtype=F64)
    x = a * (0.5 + 0.12 * _field(64, 8, gen)) + 0.05 * torch.cat([_field(64, 8, gen) for _ in range(4)], dim=1)
    ms = BlockAverage(4)(x)
    up = exp(ms, x[:, :1], ratio=4, upsample=upsample)
    flat = up.mean(dim=1, keepdim=True)
    for method in (brovey, gs):  # these substitute exactly the same intensity
        torch.testing.assert_close(method(ms, flat, ratio=4, upsample=upsample), up, rtol=0, atol=1e-10)
    # the others estimate the low-pass PAN through their own filters: close, not equal
    for name in ("pca", "gsa", "mtf_glp", "mtf_glp_hpm", "sfim"):
        assert _rmse(PANSHARPENING[name](ms, flat, ratio=4, upsample=upsample), up) < 0.1 * float(up.std()), name


@pytest.mark.parametrize("upsample", ["interp23tap", "bicubic"])
def test_every_pansharpening_method_beats_interpolation(upsample: str, gen: torch.Generator) -> None:
    x = _pan_scene(gen)
    ms, pan = BlockAverage(4)(x), x.mean(dim=1, keepdim=True)
    base = _rmse(exp(ms, pan, ratio=4, upsample=upsample), x)
    for name, method in PANSHARPENING.items():
        if name != "exp":
            assert _rmse(method(ms, pan, ratio=4, upsample=upsample), x) < 0.9 * base, name


def test_hypersharpening_is_exact_on_an_affine_mixture(gen: torch.Generator) -> None:
    """Four endmembers summing to one: each HS band is an affine function of the three MS bands."""
    x, _, msi = _hs_scene(gen, endmembers=4)
    for spatial in ("block", "gaussian"):
        hsi = make_spatial(spatial, 4).double()(x)
        y = glp_hs(hsi, msi, factor=4, spatial=spatial)
        assert _rmse(y, x) < 1e-9
        # GSA ends by giving each band the mean of the interpolated HS band (toolbox): exact up to it
        y = gsa_hs(hsi, msi, factor=4, spatial=spatial)
        assert _rmse(y - y.mean(dim=(-2, -1), keepdim=True), x - x.mean(dim=(-2, -1), keepdim=True)) < 1e-9


@pytest.mark.parametrize("spatial", ["block", "gaussian"])
def test_every_hs_method_beats_bicubic(spatial: str, gen: torch.Generator) -> None:
    x, srf, msi = _hs_scene(gen)
    hsi = make_spatial(spatial, 4).double()(x)
    base = _rmse(imresize(hsi, scale=4), x)
    for name, method in HS_FUSION.items():
        assert _rmse(method(hsi, msi, factor=4, srf=srf, spatial=spatial), x) < 0.8 * base, name


def test_cnmf_fits_better_with_iterations_and_beats_bicubic(gen: torch.Generator) -> None:
    x, srf, msi = _hs_scene(gen)
    degrade = BlockAverage(4)
    hsi = degrade(x)
    errors = []
    for iterations in (1, 2, 4):
        y = cnmf(hsi, msi, factor=4, srf=srf, endmembers=6, iterations=iterations)
        errors.append(_rmse(degrade(y), hsi) ** 2 + _rmse(torch.einsum("kc,bchw->bkhw", srf, y), msi) ** 2)
        assert bool((y >= 0).all())
    assert errors[0] > errors[1] > errors[2]
    base = _rmse(imresize(hsi, scale=4), x)
    assert _rmse(y, x) < 0.5 * base
    # without the response it is estimated; a transposed or unnormalised response works as well
    assert _rmse(cnmf(hsi, msi, factor=4, endmembers=6), x) < 0.5 * base
    assert _rmse(cnmf(hsi, msi, factor=4, srf=3 * srf.T, endmembers=6), x) < 0.5 * base


# --------------------------------------------------------------------------- output ranges

# How far a fused band may leave the range of the observed band it sharpens, in spans of that
# range. Detail that the low-resolution image does not resolve widens the range honestly: the
# ground truth of the 16 x 16 pan_im4 crop lies 1.2 spans beyond its MS's range, GSA, MTF-GLP
# and MTF-GLP-HPM reach 2.1 to 2.4 there, and at full resolution MTF-GLP-HPM overshoots
# WorldView-3's saturated spots by 1.9 (its ratio P / P_L reaches 3 there, the method's known
# behaviour). A division by a
# denominator that crosses zero puts values 3.5 to 300 spans out (the toolbox's MTF-GLP-HPM on
# pan_im4: -151 to 104, 312 spans; Brovey on WorldView-3: 27). The bound sits between the two.
SPANS = 3.0


def _spans_out(y: torch.Tensor, observed: torch.Tensor) -> float:
    """How far y leaves the per-band range of ``observed``, in spans of that range (0 inside)."""
    lo, hi = observed.amin(dim=(-2, -1), keepdim=True), observed.amax(dim=(-2, -1), keepdim=True)
    return float(((torch.maximum(lo - y, y - hi)) / (hi - lo)).amax().clamp(min=0))


def _assert_in_range(results: dict[str, torch.Tensor], observed: torch.Tensor, spans: float = SPANS) -> None:
    """Every result finite and within the observed per-band range widened by ``spans`` spans."""
    out = {name: _spans_out(y.double(), observed.double()) for name, y in results.items()}
    bad = [
        f"{name} {out[name]:.2f}" for name, y in results.items() if not (torch.isfinite(y).all() and out[name] <= spans)
    ]
    assert not bad, f"outside the observed range widened by {spans} spans (spans out): {', '.join(bad)}"


def _pan_case(shared: Path, case: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """ms (1, C, h, w), pan (1, 1, h r, w r) in [0, 1] and the ratio r of a shared pansharpening case."""
    from scipy.io import loadmat

    if case == "pan_im4":
        mat = loadmat(shared / "gdd_demo" / "pan_im4.mat")
        return to_tensor(mat["I_MS_input"]), to_tensor(mat["I_PAN_input"][..., None]), 4
    if case == "pan_im4_crop":
        crop = np.load(shared / "fixtures" / "gdd_pan_im4_crop.npz")
        return to_tensor(crop["ms"]), to_tensor(crop["pan"][..., None]), 4
    if case.startswith("landsat7"):
        pair = np.load(shared / "fixtures" / "landsat7_fusebox2_crop.npz")
        ms, pan = to_tensor(pair["ms"] / 255), to_tensor(pair["pan"][..., None] / 255)
        if case == "landsat7_reduced":  # Wald's protocol as gdd.simulate runs it: MTF filter and decimation
            ms, pan = mtf_decimate(ms, 2, sensor_gnyq("none", ms.shape[1])), mtf_decimate(pan, 2, sensor_gnyq("none"))
        return ms, pan, 2
    mat = loadmat(shared / "pansharpening" / "wv3_fullres_example.mat")  # 11-bit
    return to_tensor(mat["I_MS_LR"] / 2047), to_tensor(mat["I_PAN"][..., None] / 2047), 4


@pytest.mark.parametrize("case", ["pan_im4", "pan_im4_crop", "landsat7", "landsat7_reduced", "wv3"])
def test_every_pansharpening_method_stays_in_range_on_the_shared_cases(case: str, shared: Path) -> None:
    ms, pan, ratio = _pan_case(shared, case)
    results = {
        f"{name} ({upsample})": method(ms, pan, ratio=ratio, upsample=upsample)
        for upsample in ("interp23tap", "bicubic")
        for name, method in PANSHARPENING.items()
    }
    _assert_in_range(results, ms)


def test_every_hs_method_stays_in_range_on_the_cave_crop(shared: Path) -> None:
    """The CAVE crop of 64 at factor 4 (block average) with the Nikon D700 response, rows normalised."""
    truth = to_tensor(np.load(shared / "fixtures" / "cave_balloons_crop64.npz")["hsi"].astype(np.float32) / 65535)
    srf = torch.from_numpy(read_matrix(shared / "srf" / "nikon_d700_akhtar2014_400-700nm_10nm.csv")).T.float()
    srf = srf / srf.sum(1, keepdim=True)
    hsi, msi = BlockAverage(4)(truth), torch.einsum("kc,bchw->bkhw", srf, truth)
    _assert_in_range({name: method(hsi, msi, factor=4, srf=srf) for name, method in HS_FUSION.items()}, hsi)


@pytest.mark.parametrize("upsample", ["interp23tap", "bicubic"])
def test_every_pansharpening_method_stays_in_range_on_a_dark_band(upsample: str, gen: torch.Generator) -> None:
    """pan_im4's fault without the data: a band dark except where the scene is bright has a large
    spread for its mean, so the PAN equalised to it (and its low-pass) crosses zero where the band
    does not; the toolbox's MS * P / (P_L + eps) then reaches +-1e3."""
    s = 0.5 + _multiscale(64, gen)
    x = torch.cat([0.01 + 2 * torch.relu(s - 0.5) ** 2, 0.3 + 0.5 * (s - 0.5)], dim=1)
    ms = BlockAverage(4)(x)
    _assert_in_range({name: method(ms, s, ratio=4, upsample=upsample) for name, method in PANSHARPENING.items()}, ms)


def test_a_guide_constant_up_to_rounding_injects_nothing(gen: torch.Generator) -> None:
    """Rounding noise of a constant PAN (or MS) is not detail: no equalisation or regression gain may
    scale it up (before: up to 1e10 spans); the result stays within the interpolation's own overshoot."""
    ms = 0.2 + 0.5 * torch.rand(1, 4, 8, 8, generator=gen, dtype=F64)
    for noise in (0.0, 1e-13):
        pan = torch.full((1, 1, 32, 32), 0.3, dtype=F64) + noise * torch.randn(1, 1, 32, 32, generator=gen, dtype=F64)
        results = {
            f"{name} ({upsample}, noise {noise})": method(ms, pan, ratio=4, upsample=upsample)
            for upsample in ("interp23tap", "bicubic")
            for name, method in PANSHARPENING.items()
        }
        _assert_in_range(results, ms, spans=0.5)
        msi = torch.full((1, 3, 32, 32), 1 / 3, dtype=F64) + noise * torch.randn(1, 3, 32, 32, generator=gen, dtype=F64)
        _assert_in_range({name: method(ms, msi, factor=4) for name, method in HS_FUSION.items()}, ms, spans=0.5)


def test_modulate_keeps_the_toolbox_ratio_and_bounds_the_gain(gen: torch.Generator) -> None:
    x = 0.1 + torch.rand(1, 3, 8, 8, generator=gen, dtype=F64)
    den = x * (0.5 + torch.rand(1, 3, 8, 8, generator=gen, dtype=F64))  # gains x / den in (2/3, 2]
    num = den + 0.1 * torch.randn(1, 3, 8, 8, generator=gen, dtype=F64)
    torch.testing.assert_close(modulate(x, num, den), x * num / den, rtol=1e-12, atol=0)
    # a denominator near or across zero: the detail num - den is injected with a gain of at most MAX_GAIN
    den = 0.01 * torch.randn(1, 3, 8, 8, generator=gen, dtype=F64)
    assert bool(((modulate(x, num, den) - x).abs() <= MAX_GAIN * (num - den).abs() * (1 + 1e-12)).all())
    zero = torch.zeros(1, 1, 2, 2, dtype=F64)
    assert torch.equal(modulate(zero, zero, zero), zero)  # no 0 / 0


# --------------------------------------------------------------------------- bad inputs


def test_pansharpening_rejects_bad_inputs(gen: torch.Generator) -> None:
    ms, pan = torch.rand(1, 4, 8, 8, generator=gen), torch.rand(1, 1, 32, 32, generator=gen)
    with pytest.raises(ValueError, match="pan is 30 x 32 but ms is 8 x 8"):
        gs(ms, pan[..., :30, :], ratio=4)
    with pytest.raises(ValueError, match="one band"):
        brovey(ms, pan.repeat(1, 2, 1, 1), ratio=4)
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        pca(ms.repeat(2, 1, 1, 1), pan.repeat(2, 1, 1, 1), ratio=4)
    with pytest.raises(ValueError, match="ratio must be an integer >= 1"):
        sfim(ms, pan, ratio=0)
    with pytest.raises(ValueError, match="power-of-two"):
        exp(torch.rand(1, 4, 4, 4), torch.rand(1, 1, 12, 12), ratio=3)
    with pytest.raises(ValueError, match="upsample must be one of"):
        exp(ms, pan, ratio=4, upsample="nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sensor QB has 4 MS bands, the image has 3"):
        mtf_glp(ms[:, :3], pan, ratio=4, sensor="QB")
    with pytest.raises(ValueError, match="unknown sensor"):
        mtf_glp_hpm(ms, pan, ratio=4, sensor="Landsat")
    with pytest.raises(ValueError, match="injection must be one of"):
        mtf_glp(ms, pan, ratio=4, injection="ones")  # type: ignore[arg-type]


def test_hs_fusion_rejects_bad_inputs(gen: torch.Generator) -> None:
    hsi, msi = torch.rand(1, 6, 4, 4, generator=gen), torch.rand(1, 3, 16, 16, generator=gen)
    with pytest.raises(ValueError, match="msi is 16 x 16 but hsi is 4 x 4: with factor 3"):
        gsa_hs(hsi, msi, factor=3)
    with pytest.raises(ValueError, match="it must be 3 x 6"):
        HS_FUSION["sfim_hs"](hsi, msi, factor=4, srf=torch.rand(3, 5))
    with pytest.raises(ValueError, match="spatial must be one of"):
        glp_hs(hsi, msi, factor=4, spatial="box")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="endmembers must be an integer >= 1"):
        cnmf(hsi, msi, factor=4, endmembers=0)
    with pytest.raises(ValueError, match="iterations must be an integer >= 1"):
        cnmf(hsi, msi, factor=4, iterations=0)
