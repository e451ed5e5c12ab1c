from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gdd.metrics import ergas, psnr, rmse, sam


def _pair(seed: int = 0, shape: tuple[int, ...] = (2, 5, 9, 7)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ref = torch.rand(shape, generator=g, dtype=torch.float64) * 0.8 + 0.1
    return (ref + 0.05 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1), ref


def _ref_psnr(x: np.ndarray, r: np.ndarray, peak: float) -> float:
    return float(np.mean([10 * math.log10(peak**2 / np.mean((a - b) ** 2)) for a, b in zip(x, r)]))


def _ref_sam(x: np.ndarray, r: np.ndarray) -> float:
    angles = []
    for a, b in zip(x, r):
        for p, q in zip(a.reshape(a.shape[0], -1).T, b.reshape(b.shape[0], -1).T):
            n = np.linalg.norm(p) * np.linalg.norm(q)
            if n > 0:
                angles.append(math.degrees(math.acos(min(1.0, max(-1.0, float(p @ q) / n)))))
    return float(np.mean(angles))


def _ref_ergas(x: np.ndarray, r: np.ndarray, ratio: float) -> float:
    out = []
    for a, b in zip(x, r):
        terms = [np.mean((a[k] - b[k]) ** 2) / np.mean(b[k]) ** 2 for k in range(a.shape[0])]
        out.append(100 / ratio * math.sqrt(np.mean(terms)))
    return float(np.mean(out))


def test_against_reference_implementations() -> None:
    x, ref = _pair()
    xn, rn = x.numpy(), ref.numpy()
    assert psnr(x, ref) == pytest.approx(_ref_psnr(xn, rn, 1.0), abs=1e-9)
    assert psnr(x, ref, data_range=2.0) == pytest.approx(_ref_psnr(xn, rn, 2.0), abs=1e-9)
    assert sam(x, ref) == pytest.approx(_ref_sam(xn, rn), abs=1e-9)
    assert ergas(x, ref, ratio=4) == pytest.approx(_ref_ergas(xn, rn, 4), abs=1e-9)
    assert rmse(x, ref) == pytest.approx(float(np.mean([np.sqrt(np.mean((a - b) ** 2)) for a, b in zip(xn, rn)])))


def test_literal_values() -> None:
    # Hand computations. PSNR: MSE 0.01 at peak 1 -> 20 dB; at peak 2 -> 20 + 20 log10(2) dB
    # (the 6.02 dB by which the authors' demo overstates PSNR on [0, 1] data).
    a, b = torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), 0.6)
    assert psnr(a, b) == pytest.approx(20.0, abs=1e-5)
    assert psnr(a, b, data_range=2.0) - psnr(a, b) == pytest.approx(6.0206, abs=1e-4)
    # SAM between (1, 0) and (1, 1) is 45 degrees; ERGAS of a 10 % error everywhere at ratio 4
    # is 100 / 4 * 0.1 = 2.5.
    assert sam(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1), torch.tensor([1.0, 1.0]).view(1, 2, 1, 1)) == pytest.approx(
        45.0
    )
    assert ergas(
        torch.full((1, 3, 4, 4), 0.9, dtype=torch.float64), torch.ones(1, 3, 4, 4, dtype=torch.float64), ratio=4
    ) == pytest.approx(2.5)


def test_sam_skips_zero_pixels() -> None:
    x, ref = _pair(shape=(1, 4, 5, 5))
    x2, ref2 = x.clone(), ref.clone()
    ref2[..., 0, 0] = 0
    x2[..., 1, 1] = 0
    value = sam(x2, ref2)
    assert math.isfinite(value)
    keep = torch.ones(5, 5, dtype=torch.bool)
    keep[0, 0] = keep[1, 1] = False
    assert value == pytest.approx(_ref_sam(x[..., keep][..., None].numpy(), ref[..., keep][..., None].numpy()))


def test_identical_images() -> None:
    _, ref = _pair()
    assert psnr(ref, ref) == math.inf
    assert sam(ref, ref) == pytest.approx(0.0, abs=1e-5)
    assert ergas(ref, ref, ratio=4) == 0.0


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(ValueError, match="ratio must be positive"):
        ergas(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), ratio=0)


# ---- indices of issue 3: each against an independent implementation and a literal value ----

from scipy import ndimage  # noqa: E402

from gdd.metrics import (  # noqa: E402
    cc,
    crop_border,
    d_lambda,
    d_lambda_khan,
    d_s,
    full_resolution,
    hqnr,
    q2n,
    q_index,
    qnr,
    reduced_resolution,
    scc,
    ssim,
)
from gdd.sensors import mtf_decimate, mtf_filter, mtf_kernel, sensor_gnyq  # noqa: E402


def _scene(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth reference (blurred noise, so blocks are textured like images) and a noisy estimate."""
    g = np.random.default_rng(seed)
    ref = ndimage.gaussian_filter(g.random(shape), sigma=(0,) * (len(shape) - 2) + (2, 2)) * 4 + 0.2
    est = ref + 0.03 * g.standard_normal(shape) + 0.01
    return torch.from_numpy(est), torch.from_numpy(ref)


def _img_qi(a: np.ndarray, b: np.ndarray, block: int) -> float:
    """Wang-Bovik Q on every block x block window (step 1), straight from the definition."""
    values = []
    for i in range(a.shape[0] - block + 1):
        for j in range(a.shape[1] - block + 1):
            x, y = a[i : i + block, j : j + block].ravel(), b[i : i + block, j : j + block].ravel()
            c = np.cov(x, y)
            spread, level = c[0, 0] + c[1, 1], x.mean() ** 2 + y.mean() ** 2
            if spread == 0 and level != 0:  # flat windows: img_qi's special cases
                values.append(2 * x.mean() * y.mean() / level)
            elif spread * level == 0:
                values.append(1.0)
            else:
                values.append(4 * c[0, 1] * x.mean() * y.mean() / (spread * level))
    return float(np.mean(values))


def test_q_index_against_definition() -> None:
    x, ref = _scene(1, (1, 3, 13, 11))
    expected = np.mean([_img_qi(ref[0, k].numpy(), x[0, k].numpy(), 8) for k in range(3)])
    assert q_index(x, ref, block_size=8) == pytest.approx(expected, abs=1e-12)
    assert q_index(x, ref, block_size=8) == pytest.approx(q_index(ref, x, block_size=8), abs=1e-12)


def test_q_index_literal() -> None:
    # By hand, one 2 x 2 window: ref (0, 1, 2, 3), estimate 2 * ref. Sample covariance 2 * 5/3,
    # variances 5/3 and 4 * 5/3, means 1.5 and 3: Q = 4 (10/3)(4.5) / ((25/3)(11.25)) = 0.64.
    ref = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).view(1, 1, 2, 2)
    assert q_index(2 * ref, ref, block_size=2) == pytest.approx(0.64, abs=1e-12)


def test_q2n_against_sewar() -> None:
    sewar = pytest.importorskip("sewar")
    for seed, shape, block in ((2, (1, 8, 64, 64), 32), (3, (1, 5, 40, 52), 16), (4, (1, 3, 32, 32), 32)):
        x, ref = _scene(seed, shape)
        expected = sewar.full_ref.q2n(ref[0].permute(1, 2, 0).numpy(), x[0].permute(1, 2, 0).numpy(), ws=block)
        assert q2n(x, ref, block_size=block) == pytest.approx(expected, abs=1e-9), shape


def test_q2n_literal() -> None:
    # By hand, one band, one 2 x 2 block: ref (0, 1, 2, 3), estimate 2 * ref. Both are normalised
    # with the reference's mean 1.5 and std sqrt(5/3): means 1 and m2 = 1 + 1.5 sqrt(0.6),
    # variances 1 and 4, covariance 2; Q2n = 2 * 2 / (1 + 4) * 2 m2 / (1 + m2^2) = 0.60965104...
    m2 = 1 + 1.5 * math.sqrt(0.6)
    ref = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).view(1, 1, 2, 2)
    assert q2n(2 * ref, ref, block_size=2) == pytest.approx(0.8 * 2 * m2 / (1 + m2 * m2), abs=1e-12)
    assert q2n(2 * ref, ref, block_size=2) == pytest.approx(0.60965104, abs=1e-8)


def test_q2n_identity_and_bounds() -> None:
    x, ref = _scene(5, (1, 4, 48, 40))
    assert q2n(ref, ref) == pytest.approx(1.0, abs=1e-12)
    # More error, lower Q2n: the estimate's error three and ten times larger (0.98, 0.87, 0.36).
    errors = [q2n(ref + k * (x - ref), ref) for k in (1, 3, 10)]
    assert 1 > errors[0] > errors[1] > errors[2] > 0


def _ref_scc(x: np.ndarray, r: np.ndarray) -> float:
    sobel = np.array([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]])

    def grad(img: np.ndarray) -> np.ndarray:
        out = []
        for band in img:
            core = band[1:-1, 1:-1]
            gy = ndimage.correlate(core, sobel, mode="constant")
            gx = ndimage.correlate(core, sobel.T, mode="constant")
            out.append(np.hypot(gx, gy))
        return np.stack(out)

    gx, gr = grad(x), grad(r)
    return float((gx * gr).sum() / np.sqrt((gx**2).sum()) / np.sqrt((gr**2).sum()))


def test_scc_against_reference() -> None:
    x, ref = _scene(6, (1, 4, 17, 23))
    assert scc(x, ref) == pytest.approx(_ref_scc(x[0].numpy(), ref[0].numpy()), abs=1e-12)


def test_scc_literal() -> None:
    # sCC is a normalised (uncentred) correlation of gradient magnitudes: a scaled image has the
    # scaled magnitudes, so sCC(3 * ramp, ramp) = 1 exactly.
    ramp = torch.arange(5.0).repeat(5, 1).view(1, 1, 5, 5)
    assert scc(3 * ramp, ramp) == pytest.approx(1.0, abs=1e-12)


def test_ssim_against_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    x, ref = _scene(7, (1, 3, 40, 33))
    expected = metrics.structural_similarity(
        ref[0].permute(1, 2, 0).numpy(),
        x[0].permute(1, 2, 0).numpy(),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=5.0,
        channel_axis=-1,
    )
    assert ssim(x, ref, data_range=5.0) == pytest.approx(expected, abs=1e-12)


def test_ssim_literal() -> None:
    # By hand: two constant images a and b give SSIM = (2ab + C1) / (a^2 + b^2 + C1) with
    # C1 = (0.01 * range)^2, here (2 * 0.25 + 1e-4) / (0.5^2 + 0.5^2... ) for a = 0.5, b = 0.5 -> 1,
    # and for a = 0.5, b = 0.25: (0.25 + 1e-4) / (0.3125 + 1e-4) = 0.800064...
    a = torch.full((1, 1, 12, 12), 0.5, dtype=torch.float64)
    assert ssim(a, a / 2) == pytest.approx((0.25 + 1e-4) / (0.3125 + 1e-4), abs=1e-12)


def test_cc_and_band_psnr_against_numpy() -> None:
    x, ref = _scene(8, (1, 4, 9, 10))
    xn, rn = x[0].numpy(), ref[0].numpy()
    assert cc(x, ref) == pytest.approx(np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(xn, rn)]))
    per_band = [10 * np.log10(4.0**2 / np.mean((a - b) ** 2)) for a, b in zip(xn, rn)]
    assert psnr(x, ref, data_range=4.0, per_band=True) == pytest.approx(np.mean(per_band), abs=1e-12)
    # Literal: a 0.1 error on one band of two and none... per band 20 dB and inf -> inf; use two
    # errors 0.1 and 0.01: (20 + 40) / 2 = 30 dB per band, 10 log10(1 / 0.00505) = 22.97 dB global.
    r = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    e = torch.stack([torch.full((2, 2), 0.1), torch.full((2, 2), 0.01)]).double()[None]
    assert psnr(e, r, per_band=True) == pytest.approx(30.0)
    assert psnr(e, r) == pytest.approx(10 * math.log10(1 / 0.00505))


def _uqi(a: np.ndarray, b: np.ndarray) -> float:
    c = np.cov(a.ravel(), b.ravel())
    return 4 * c[0, 1] * a.mean() * b.mean() / ((c[0, 0] + c[1, 1]) * (a.mean() ** 2 + b.mean() ** 2))


def _blockwise(a: np.ndarray, b: np.ndarray, s: int) -> float:
    return float(
        np.mean(
            [
                _uqi(a[i : i + s, j : j + s], b[i : i + s, j : j + s])
                for i in range(0, a.shape[0], s)
                for j in range(0, a.shape[1], s)
            ]
        )
    )


def _ref_d_lambda(f: np.ndarray, ms: np.ndarray, s: int, ratio: int, p: float) -> float:
    """The QNR paper's D_lambda (D_lambda.m, flag_orig_paper = 1), with loops."""
    c = f.shape[0]
    terms = [
        abs(_blockwise(f[i], f[j], s) - _blockwise(ms[i], ms[j], s // ratio)) ** p
        for i in range(c - 1)
        for j in range(i + 1, c)
    ]
    return float(np.mean(terms) ** (1 / p))


def _ref_d_s(f: np.ndarray, ms: np.ndarray, pan: np.ndarray, pan_lr: np.ndarray, s: int, ratio: int, q: float) -> float:
    terms = [abs(_blockwise(f[i], pan, s) - _blockwise(ms[i], pan_lr, s // ratio)) ** q for i in range(f.shape[0])]
    return float(np.mean(terms) ** (1 / q))


def _fullres_case(seed: int = 9) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = np.random.default_rng(seed)
    truth = ndimage.gaussian_filter(g.random((1, 4, 64, 64)), sigma=(0, 0, 1.5, 1.5)) * 3 + 0.5
    pan = truth.mean(axis=1, keepdims=True) + 0.01 * g.standard_normal((1, 1, 64, 64))
    ms = truth.reshape(1, 4, 16, 4, 16, 4).mean(axis=(3, 5))
    fused = truth + 0.02 * g.standard_normal(truth.shape)
    pan_lr = pan.reshape(1, 1, 16, 4, 16, 4).mean(axis=(3, 5))
    return tuple(torch.from_numpy(a) for a in (fused, ms, pan, pan_lr))  # type: ignore[return-value]


def test_d_lambda_d_s_qnr_against_loops() -> None:
    fused, ms, pan, pan_lr = _fullres_case()
    f, m, p, pl = fused[0].numpy(), ms[0].numpy(), pan[0, 0].numpy(), pan_lr[0, 0].numpy()
    for p_exp in (1.0, 2.0):
        assert d_lambda(fused, ms, ratio=4, p=p_exp) == pytest.approx(_ref_d_lambda(f, m, 32, 4, p_exp), abs=1e-12)
        assert d_s(fused, ms, pan, ratio=4, pan_lr=pan_lr, q=p_exp) == pytest.approx(
            _ref_d_s(f, m, p, pl, 32, 4, p_exp), abs=1e-12
        )
    out = qnr(fused, ms, pan, ratio=4, pan_lr=pan_lr, alpha=1.0, beta=2.0)
    assert out["qnr"] == pytest.approx((1 - out["d_lambda"]) * (1 - out["d_s"]) ** 2, abs=1e-15)
    # Blocks of 16 instead of 32, and partial blocks (60 x 56 is no multiple of 16: blockproc's
    # smaller last blocks).
    assert d_lambda(fused, ms, ratio=4, block_size=16) == pytest.approx(_ref_d_lambda(f, m, 16, 4, 1.0), abs=1e-12)
    f2, m2 = fused[..., :60, :56], ms[..., :15, :14]
    assert d_lambda(f2, m2, ratio=4, block_size=16) == pytest.approx(
        _ref_d_lambda(f2[0].numpy(), m2[0].numpy(), 16, 4, 1.0), abs=1e-12
    )


def test_d_lambda_literal() -> None:
    # By hand: two bands on one 2 x 2 block, fused (0, 1, 2, 3) and (0, 1, 2, 3) -> Q = 1;
    # MS (a single 1 x 1... ) at ratio 1 with band 2 = 2 * band 1 -> Q = 0.64 (see the Q literal);
    # D_lambda = |1 - 0.64| = 0.36.
    band = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
    fused = torch.stack([band, band])[None]
    ms = torch.stack([band, 2 * band])[None]
    assert d_lambda(fused, ms, ratio=1, block_size=2) == pytest.approx(0.36, abs=1e-12)


def test_no_reference_indices_vanish_on_consistent_data() -> None:
    fused, ms, pan, pan_lr = _fullres_case()
    up = ms.repeat_interleave(4, -1).repeat_interleave(4, -2)
    # The nearest-upsampled MS has exactly the MS's inter-band Q's.
    assert d_lambda(up, ms, ratio=4) == pytest.approx(0.0, abs=1e-12)
    # Khan: a fused image whose MTF-degraded version is the MS.
    gains = sensor_gnyq("none", 4)
    assert d_lambda_khan(fused, mtf_decimate(fused, 4, gains), ratio=4) == pytest.approx(0.0, abs=1e-12)
    assert d_lambda_khan(fused, mtf_filter(fused, 4, gains), ratio=4) == pytest.approx(0.0, abs=1e-12)
    h = hqnr(fused, ms, pan, ratio=4, pan_lr=pan_lr)
    assert h["hqnr"] == pytest.approx((1 - h["d_lambda_khan"]) * (1 - h["d_s"]))
    full = full_resolution(fused, ms, pan, ratio=4, pan_lr=pan_lr)
    assert full["d_s"] == pytest.approx(h["d_s"]) and full["qnr"] == pytest.approx(
        qnr(fused, ms, pan, ratio=4, pan_lr=pan_lr)["qnr"]
    )
    # A better fusion has a better QNR than a blurry one.
    assert full["qnr"] > full_resolution(up, ms, pan, ratio=4, pan_lr=pan_lr)["qnr"]


def test_no_reference_shape_errors() -> None:
    fused, ms, pan, _ = _fullres_case()
    with pytest.raises(ValueError, match="expected the fused size"):
        d_lambda(fused, ms[..., :15, :], ratio=4)
    with pytest.raises(ValueError, match="bands"):
        d_lambda(fused, ms[:, :3], ratio=4)
    with pytest.raises(ValueError, match="multiple of the ratio"):
        d_lambda(fused[..., :63, :63], torch.rand(1, 4, 21, 21, dtype=torch.float64), ratio=3)
    with pytest.raises(ValueError, match="pan must be one band"):
        d_s(fused, ms, pan[..., :32], ratio=4)
    with pytest.raises(ValueError, match="unknown sensor"):
        d_s(fused, ms, pan, ratio=4, sensor="XX")
    with pytest.raises(ValueError, match="has 8 MS bands"):
        d_lambda_khan(fused, ms, ratio=4, sensor="WV3")


def test_mtf_kernel_matches_the_nyquist_gain() -> None:
    # The toolbox puts the gain on frequency sample (N - 1) / (2 ratio) of the N = 41 samples,
    # i.e. at (N - 1) / N of the Nyquist frequency 1 / (2 ratio): there the Gaussian response is
    # GNyq, so at 1 / (2 ratio) itself it is GNyq^((N / (N - 1))^2), up to the Kaiser window.
    for ratio, gain in ((4, 0.3), (4, 0.15), (2, 0.35), (6, 0.29)):
        h = mtf_kernel(ratio, gain)
        n = np.arange(h.shape[0]) - h.shape[0] // 2
        response = float(h.sum(axis=0) @ np.cos(2 * np.pi * n / (2 * ratio)))
        assert response == pytest.approx(gain ** ((41 / 40) ** 2), abs=0.003), (ratio, gain)
        assert np.allclose(h, h.T) and np.allclose(h, h[::-1])


def test_reduced_resolution_options() -> None:
    x, ref = _scene(10, (1, 4, 40, 40))
    full = reduced_resolution(x, ref, ratio=4, data_range=5.0)
    assert set(full) == {"psnr", "psnr_bands", "ssim", "sam", "ergas", "q", "q2n", "scc", "cc", "rmse"}
    cut = reduced_resolution(x, ref, ratio=4, data_range=5.0, dim_cut=3)
    assert cut["psnr"] == pytest.approx(psnr(x[..., 2:37, 2:37], ref[..., 2:37, 2:37], data_range=5.0))
    assert crop_border(ref, 3).shape[-2:] == (35, 35)
    clipped = reduced_resolution(x, ref, ratio=4, clip=1.0)
    assert clipped["rmse"] == pytest.approx(rmse(x.clamp(0, 1), ref))
    small = reduced_resolution(x[..., :20, :20], ref[..., :20, :20], ratio=4)
    # Below the block size Q is undefined; Q2n mirrors the image out to a block, as the toolbox does.
    assert small["q"] is None
    assert small["q2n"] == pytest.approx(q2n(x[..., :20, :20], ref[..., :20, :20], block_size=32), abs=1e-12)


def test_scc_and_d_s_literals() -> None:
    # SCC by hand: 4 x 4 images, 2 x 2 cores after the border cut. x has a 1 at core (1, 1): the
    # zero-padded Sobel responses give magnitudes [[sqrt 2, 2], [2, 0]]; r has it at core (0, 0):
    # [[0, 2], [2, sqrt 2]]. sCC = (2 * 2 + 2 * 2) / (sqrt(2 + 4 + 4) * sqrt(4 + 4 + 2)) = 0.8.
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    r = x.clone()
    x[..., 2, 2] = 1
    r[..., 1, 1] = 1
    assert scc(x, r) == pytest.approx(0.8, abs=1e-12)
    # D_s by hand: one band on one 2 x 2 block at ratio 1: Q(fused, PAN) = 1 (equal), Q(MS,
    # PAN_low) = 0.64 (MS = 2 x PAN_low, see the Q literal), so D_s = 0.36.
    band = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64).view(1, 1, 2, 2)
    assert d_s(band, 2 * band, band, ratio=1, pan_lr=band, block_size=2) == pytest.approx(0.36, abs=1e-12)


def test_review_edge_cases() -> None:
    # Q on exactly flat windows with a block that is no power of two (sums, not means*n).
    x, ref = _scene(11, (1, 2, 40, 40))
    x[..., :30, :30] = 0.5
    ref[..., :30, :30] = 0.5
    expected = np.mean([_img_qi(ref[0, k].numpy(), x[0, k].numpy(), 24) for k in range(2)])
    assert q_index(x, ref, block_size=24) == pytest.approx(expected, abs=1e-12)
    # Q2n with a shift larger than the block: MATLAB pads nothing and takes the blocks at 0 and
    # 48 (sewar fails there), so it is the mean of the four blocks' own Q2n.
    x, ref = _scene(12, (1, 4, 90, 90))
    got = q2n(x, ref, block_size=32, shift=48)
    blocks = [(slice(i, i + 32), slice(j, j + 32)) for i in (0, 48) for j in (0, 48)]
    assert got == pytest.approx(np.mean([q2n(x[..., a, b], ref[..., a, b]) for a, b in blocks]), abs=1e-12)
    # SAM of identical spectra is exactly 0; with no usable pixel it is undefined.
    assert sam(ref, ref) == 0.0
    assert math.isnan(sam(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)))


def test_d_s_bicubic_pan_degradation() -> None:
    from gdd.operators import imresize

    fused, ms, pan, _ = _fullres_case()
    lowpan = imresize(pan, scale=1 / 4)
    assert d_s(fused, ms, pan, ratio=4, pan_degradation="bicubic") == pytest.approx(
        d_s(fused, ms, pan, ratio=4, pan_lr=lowpan), abs=1e-15
    )
    assert d_s(fused, ms, pan, ratio=4, pan_degradation="bicubic") != pytest.approx(d_s(fused, ms, pan, ratio=4))
    with pytest.raises(ValueError, match="low resolution"):
        d_s(fused, ms.repeat_interleave(4, -1).repeat_interleave(4, -2), pan, ratio=4, pan_degradation="bicubic")


def test_mtf_kernel_against_a_loop_transcription() -> None:
    # fspecial('gaussian') / max, fsamp2 (rotations and shifts written out as index arithmetic
    # on a symmetric response), fwind1 with Huang's rotated Kaiser window, written with loops.
    n, ratio, gain = 41, 4, 0.29
    sigma = math.sqrt(((n - 1) * (1 / ratio / 2)) ** 2 / (-2 * math.log(gain)))
    c = (n - 1) // 2
    hd = np.array([[math.exp(-((i - c) ** 2 + (j - c) ** 2) / (2 * sigma**2)) for j in range(n)] for i in range(n)])
    hd /= hd.max()
    # For an odd, centred, symmetric response the taps are h[k, l] = mean over frequencies of
    # Hd[u, v] cos(2 pi ((k - c)(u - c) + (l - c)(v - c)) / n).
    u = np.arange(n) - c
    cos = np.cos(2 * np.pi * np.outer(u, u) / n)
    h = cos @ hd @ cos.T / n**2
    w1 = np.kaiser(n, 0.5)
    t = np.linspace(-1, 1, n)
    window = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            r = math.hypot(t[i], t[j])
            window[i, j] = np.interp(r, t, w1) if r <= 1 else 0.0
    assert np.allclose(mtf_kernel(ratio, gain), h * window, atol=1e-15)


def test_every_sensor_kernel_meets_its_nyquist_gain() -> None:
    # Issue 5's check: each sensor's MS and PAN kernel responds at the low-resolution Nyquist
    # frequency 1 / (2 ratio) with its gain, within 0.02 (ratio 4, the toolbox's).
    from gdd.sensors import SENSORS

    for sensor, (ms, pan) in SENSORS.items():
        for gain in [*(ms or [0.29]), pan]:
            h = mtf_kernel(4, gain)
            n = np.arange(h.shape[0]) - h.shape[0] // 2
            response = float(h.sum(axis=0) @ np.cos(2 * np.pi * n / 8))
            assert abs(response - gain) < 0.02, (sensor, gain, response)


def test_mtf_decimate_is_the_filtered_image_at_the_kept_pixels() -> None:
    # The decimation computes only the kept pixels (a strided convolution); they are those of the
    # whole filtered image, pixel ratio // 2 of each block, for odd and even ratios, per-band
    # gains, and images smaller than the kernel (replicated borders).
    gen = torch.Generator().manual_seed(3)
    for ratio, (h, w), gains in (
        (4, (16, 12), [0.3, 0.25, 0.2]),
        (2, (10, 6), [0.3]),
        (3, (27, 9), [0.29, 0.15, 0.4]),
        (6, (48, 36), [0.2]),
    ):
        x = torch.rand(2, 3, h, w, dtype=torch.float64, generator=gen)
        got = mtf_decimate(x, ratio, gains)
        off = ratio // 2
        want = mtf_filter(x, ratio, gains)[..., off::ratio, off::ratio]
        assert got.shape == (2, 3, h // ratio, w // ratio)
        assert torch.allclose(got, want, rtol=0, atol=1e-12), (ratio, h, w)
        # ... and so are the gradients (the adjoint the fit uses).
        weights = torch.rand(got.shape, dtype=torch.float64, generator=gen)
        (a,) = torch.autograd.grad((mtf_decimate(x.requires_grad_(), ratio, gains) * weights).sum(), x)
        (b,) = torch.autograd.grad((mtf_filter(x, ratio, gains)[..., off::ratio, off::ratio] * weights).sum(), x)
        assert torch.allclose(a, b, rtol=0, atol=1e-12), (ratio, h, w)
    with pytest.raises(ValueError, match="2 Nyquist gains for 3 bands"):
        mtf_decimate(torch.rand(1, 3, 8, 8), 4, [0.3, 0.2])
