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
