from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gdd.operators import (
    BicubicDownsample,
    BlockAverage,
    GaussianDownsample,
    Identity,
    KernelDownsample,
    MTFDownsample,
    SpectralResponse,
    imresize,
    imresize_matrix,
    make_spatial,
)


def _operators(gen: torch.Generator) -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    """Every operator with an input shape (odd sizes, odd band counts)."""
    return {
        "identity": (Identity(), (2, 3, 7, 5)),
        "block2": (BlockAverage(2), (2, 3, 6, 10)),
        "block3": (BlockAverage(3), (1, 5, 9, 12)),
        "gaussian2": (GaussianDownsample(2), (1, 3, 12, 10)),
        "gaussian4": (GaussianDownsample(4, sigma=2.5), (2, 2, 16, 24)),
        "gaussian_tiny": (GaussianDownsample(4), (1, 1, 4, 8)),
        "bicubic4": (BicubicDownsample(4), (1, 3, 16, 20)),
        "bicubic3": (BicubicDownsample(3), (2, 2, 9, 15)),
        "mtf4": (MTFDownsample(4, (0.3, 0.25)), (1, 2, 16, 12)),
        "mtf2": (MTFDownsample(2), (2, 3, 10, 6)),
        "kernel2": (KernelDownsample(torch.rand(6, 6, generator=gen), 2), (1, 3, 12, 10)),
        "kernel3_offcentre": (KernelDownsample(torch.eye(5)[:, [0, 1, 4, 2, 3]] / 5, 3), (2, 2, 9, 15)),
        "srf": (SpectralResponse(torch.rand(3, 7, generator=gen)), (2, 7, 5, 6)),
        "srf_learnable": (SpectralResponse(torch.rand(2, 4, generator=gen), learnable=True), (1, 4, 3, 3)),
    }


OPERATOR_NAMES = list(_operators(torch.Generator()).keys())


@pytest.mark.parametrize("name", OPERATOR_NAMES)
def test_adjointness_float64(name: str, gen: torch.Generator) -> None:
    op, shape = _operators(gen)[name]
    op = op.double()
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    ax = op(x)
    y = torch.randn(ax.shape, generator=gen, dtype=torch.float64)
    lhs = (ax * y).sum()
    rhs = (x * op.adjoint(y)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-10), (float(lhs), float(rhs))


@pytest.mark.parametrize("name", OPERATOR_NAMES)
def test_device_and_dtype_follow_input(name: str, gen: torch.Generator, device: torch.device) -> None:
    op, shape = _operators(gen)[name]
    op = op.to(device)
    for dtype in (torch.float32, torch.float64):
        if device.type == "mps" and dtype == torch.float64:
            continue
        x = torch.rand(shape, generator=gen).to(device=device, dtype=dtype)
        y = op(x)
        assert y.device.type == device.type and y.dtype == dtype
        back = op.adjoint(y)
        assert back.shape == x.shape and back.dtype == dtype


@pytest.mark.parametrize("name", ["block2", "gaussian2", "bicubic3", "srf", "kernel2"])
def test_gradcheck(name: str, gen: torch.Generator) -> None:
    op, shape = _operators(gen)[name]
    op = op.double()
    x = torch.rand(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(op, (x,))


def test_spatial_shapes() -> None:
    x = torch.rand(1, 4, 24, 36)
    for kind in ("block", "gaussian", "bicubic", "mtf"):
        assert make_spatial(kind, 4)(x).shape == (1, 4, 6, 9)


def test_spatial_operators_preserve_constants() -> None:
    x = torch.full((1, 2, 16, 24), 0.37, dtype=torch.float64)
    for kind in ("block", "gaussian", "bicubic"):
        y = make_spatial(kind, 4).double()(x)
        assert torch.allclose(y, torch.full_like(y, 0.37), atol=1e-12)


def test_block_average_value() -> None:
    # Hand computation: the mean of [[0, 1], [4, 5]] is 2.5.
    y = BlockAverage(2)(torch.arange(16.0).reshape(1, 1, 4, 4))
    assert y[0, 0, 0, 0].item() == 2.5


def test_factor_that_does_not_divide() -> None:
    with pytest.raises(ValueError, match="not divisible by the factor 4"):
        BlockAverage(4)(torch.rand(1, 1, 10, 8))
    with pytest.raises(ValueError, match="not divisible"):
        BicubicDownsample(4)(torch.rand(1, 1, 8, 10))
    with pytest.raises(ValueError, match="positive integer"):
        BlockAverage(0)
    with pytest.raises(ValueError, match="spatial degradation must be"):
        make_spatial("nearest", 2)  # type: ignore[arg-type]


def test_spectral_response_band_mismatch() -> None:
    with pytest.raises(ValueError, match="x has 4 bands but the response matrix expects 31"):
        SpectralResponse(torch.rand(3, 31))(torch.rand(1, 4, 2, 2))


def test_gaussian_is_centred_on_the_block() -> None:
    # An impulse at the centre of block (1, 1) gives its largest response at output (1, 1),
    # with equal responses at the four diagonal neighbours (symmetric kernel, even factor).
    x = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    x[..., 5:7, 5:7] = 1
    y = GaussianDownsample(4).double()(x)[0, 0]
    assert y.argmax().item() == 1 * 4 + 1
    assert torch.isclose(y[0, 0], y[2, 2]) and torch.isclose(y[0, 2], y[2, 0])


# --- MATLAB imresize ------------------------------------------------------------------------


def _matlab_imresize_1d(v: np.ndarray, scale: float, antialiasing: bool = True) -> np.ndarray:
    """A loop transcription of MATLAB's imresize along one axis (contributions + symmetric
    padding), independent of the vectorised matrix builder under test."""
    n = len(v)
    out = math.ceil(n * scale - 1e-9)
    width = 4 / scale if (antialiasing and scale < 1) else 4.0
    res = np.zeros(out)
    for i in range(1, out + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        total, acc = 0.0, 0.0
        for j in range(left, left + math.ceil(width) + 2):
            d = u - j
            if antialiasing and scale < 1:
                d *= scale
            a = abs(d)
            w = 1.5 * a**3 - 2.5 * a**2 + 1 if a <= 1 else (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2 if a <= 2 else 0.0)
            if antialiasing and scale < 1:
                w *= scale
            k = j
            while k < 1 or k > n:  # MATLAB's symmetric (mirror) border, repeated if needed
                k = 1 - k if k < 1 else 2 * n + 1 - k
            acc += w * v[k - 1]
            total += w
        res[i - 1] = acc / total
    return res


def test_imresize_matches_octave_published_values() -> None:
    # Octave/MATLAB: imresize(reshape(0:15, 4, 4)', 0.5, 'bicubic', 'AntiAliasing', false)
    # prints [2.1875 4.3125; 10.6875 12.8125] (value published with MATLAB-compatible ports).
    img = torch.arange(16.0, dtype=torch.float64).reshape(1, 1, 4, 4)
    out = imresize(img, scale=0.5, antialiasing=False)[0, 0]
    assert torch.allclose(out, torch.tensor([[2.1875, 4.3125], [10.6875, 12.8125]], dtype=torch.float64))


def test_imresize_antialiased_hand_value() -> None:
    # Hand computation of MATLAB's imresize(0:7, 0.5) (bicubic, antialiasing on) at output 1:
    # u = 1.5; the stretched kernel over taps j = -3..6 gives weights proportional to
    # [0, -0.0234375, -0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625, -0.0703125,
    # -0.0234375, 0] (sum 2); mirrored samples are [., 2, 1, 0, 0, 1, 2, 3, 4, .], so the
    # output is 0.8984375 / 2 = 0.44921875.
    v = np.arange(8.0)
    out = imresize_matrix(8, 4, 0.5) @ v
    assert out[0] == pytest.approx(0.44921875, abs=1e-15)
    assert np.allclose(out, _matlab_imresize_1d(v, 0.5), atol=1e-12)
    # Far from the borders a symmetric kernel reproduces a ramp exactly.
    ramp = imresize_matrix(32, 8, 0.25) @ np.arange(32.0)
    assert np.allclose(ramp[2:6], 4 * np.arange(2, 6) + 1.5)


@pytest.mark.parametrize(("n", "scale"), [(16, 0.25), (13, 1 / 3), (40, 0.25), (7, 2.0), (5, 4.0), (9, 0.5)])
def test_imresize_matrix_matches_matlab_transcription(n: int, scale: float, gen: torch.Generator) -> None:
    v = torch.rand(n, generator=gen, dtype=torch.float64).numpy()
    out = math.ceil(n * scale - 1e-9)
    m = imresize_matrix(n, out, scale)
    assert np.allclose(m @ v, _matlab_imresize_1d(v, scale), atol=1e-12)
    assert np.allclose(m.sum(axis=1), 1)


def test_bicubic_borders_differ_from_clamping() -> None:
    # The authors' port clamps indices at the border; MATLAB mirrors them. With a ramp the
    # two give different first pixels, and ours must be the mirrored one.
    v = np.arange(16.0)
    ours = imresize_matrix(16, 4, 0.25) @ v
    assert np.isclose(ours[0], _matlab_imresize_1d(v, 0.25)[0])
