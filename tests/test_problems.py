from __future__ import annotations

import pytest
import torch

from gdd.problems import PRESETS, flash_problem, hs_problem, pan_problem, solve


def _hs(gen: torch.Generator, c: int = 6, k: int = 3, size: int = 16, factor: int = 4):  # type: ignore[no-untyped-def]
    return torch.rand(1, c, size // factor, size // factor, generator=gen), torch.rand(1, k, size, size, generator=gen)


def test_srf_orientation_and_normalisation(gen: torch.Generator) -> None:
    hsi, rgb = _hs(gen)
    srf = torch.rand(3, 6, generator=gen, dtype=torch.float64) * 5
    a = hs_problem(hsi, rgb, srf, 4).make_terms()[1].operator.srf
    b = hs_problem(hsi, rgb, srf.T, 4).make_terms()[1].operator.srf
    assert torch.allclose(a, b)
    assert torch.allclose(a.sum(1), torch.ones(3))
    raw = hs_problem(hsi, rgb, srf, 4, normalize_srf=False).make_terms()[1].operator.srf
    assert torch.allclose(raw, srf.float())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"srf": torch.rand(4, 6)}, "must be 3 x 6"),
        ({"factor": 3}, "not divisible by the factor 3"),
        ({"factor": 2}, "needs 8 x 8"),
        ({"hsi": torch.full((1, 6, 4, 4), float("nan"))}, "NaN"),
        ({"srf": torch.zeros(3, 6)}, "sums to zero"),
    ],
)
def test_hs_problem_errors(gen: torch.Generator, change: dict, message: str) -> None:  # type: ignore[type-arg]
    hsi, rgb = _hs(gen)
    args = {"hsi": hsi, "guide": rgb, "srf": torch.rand(3, 6, generator=gen), "factor": 4, **change}
    with pytest.raises(ValueError, match=message):
        hs_problem(**args)


def test_pan_problem(gen: torch.Generator) -> None:
    ms, pan = torch.rand(1, 4, 8, 8, generator=gen), torch.rand(1, 1, 32, 32, generator=gen)
    terms = pan_problem(ms, pan, 4).make_terms()
    assert [t.weight for t in terms] == [10.0, 1.0]
    assert pan_problem(ms, pan, 4, full_resolution=True).make_terms()[0].weight == 100.0
    assert terms[1].loss == "gradient_mse" and terms[1].operator.srf.requires_grad
    with pytest.raises(ValueError, match="one band"):
        pan_problem(ms, pan.expand(1, 3, 32, 32), 4)
    with pytest.raises(ValueError, match="needs 16 x 16"):
        pan_problem(ms, torch.rand(1, 1, 64, 64), 4)


def test_flash_problem_size_mismatch(gen: torch.Generator) -> None:
    with pytest.raises(ValueError, match="must be the same size"):
        flash_problem(torch.rand(1, 3, 8, 8, generator=gen), torch.rand(1, 3, 8, 9, generator=gen))


def test_presets_follow_the_authors() -> None:
    assert PRESETS[("hs", "authors")].width == 64 and PRESETS[("hs", "authors")].iterations == 20001
    assert PRESETS[("pan", "authors")].iterations == 8001 and PRESETS[("pan", "authors")].noise_std == 0.01
    assert PRESETS[("flash", "authors")].width == 32 and PRESETS[("flash", "authors")].iterations == 1001


def test_solve_small_image_reduces_depth_and_records_settings(gen: torch.Generator) -> None:
    noisy = torch.rand(1, 3, 12, 10, generator=gen)
    result = solve(flash_problem(noisy, noisy), device="cpu", iterations=3, width=4)
    assert result.x.shape == noisy.shape
    assert result.details["preset"]["depth"] == 3  # 12 x 10 -> 6 x 5 -> 3 x 3 -> 2 x 2
    assert result.details["budget"] == "cpu"
    with pytest.raises(ValueError, match="unknown settings: colour"):
        solve(flash_problem(noisy, noisy), device="cpu", iterations=1, colour=3)
