from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from gdd.operators import imresize
from gdd.problems import (
    ENSEMBLE,
    PAN_LINEAR_R2,
    PRESETS,
    flash_problem,
    hs_problem,
    pan_linearity,
    pan_problem,
    solve,
    solve_many,
)
from gdd.problems.presets import choose_preset, fit_config


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
        ({"factor": 0}, "factor must be a positive integer, got 0"),
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


def test_a_preset_becomes_a_fit_config_in_one_place() -> None:
    preset = PRESETS[("pan", "cpu")]
    config = fit_config(preset, seed=3, device="cpu", log_every=7, fast={"amp": "bf16"}, classic_start=True)
    assert (config.iterations, config.seed, config.device, config.log_every) == (preset.iterations, 3, "cpu", 7)
    assert config.warm_start == preset.warm_start and config.keep_best and config.amp == "bf16"
    # No classic image to start from: no warm start; averaging never exceeds the steps.
    short = fit_config(
        replace(preset, iterations=20), seed=0, device="cpu", log_every=50, fast=None, classic_start=False
    )
    assert short.warm_start == 0 and short.average_last == 20


def test_a_warm_start_keeps_its_share_of_a_shorter_run(gen: torch.Generator) -> None:
    from gdd.cli.fusion import preset_overrides
    from gdd.cli.parser import build_parser
    from gdd.problems.plan import _plan_starts

    cpu = torch.device("cpu")

    def warm(overrides: dict[str, object], budget: str | None = None) -> int:
        return choose_preset("pan", cpu, budget, overrides)[1].warm_start  # type: ignore[arg-type]

    # The presets' 100 steps, a fifth of the CPU preset's 500, and of the authors' 8001 as before.
    assert warm({}, "cpu") == warm({}, "authors") == 100
    # A shorter run keeps a fifth for it; a warm start the caller names is theirs.
    assert (warm({"iterations": 100}), warm({"iterations": 9}), warm({"iterations": 0})) == (20, 1, 0)
    assert warm({"iterations": 100, "warm_start": 60}) == 60
    # --ensemble's two starts alike (its first start's warm start is the preset's), and
    # --warm-start still holds for both.
    assert ENSEMBLE["pan"][0][1] == PRESETS[("pan", "cpu")].warm_start == PRESETS[("pan", "authors")].warm_start
    ms, pan = torch.rand(1, 4, 8, 8, generator=gen), torch.rand(1, 1, 32, 32, generator=gen)
    problem = pan_problem(ms, pan, 4, spatial="bicubic")
    kwargs = dict(device="cpu", seed=0, budget=None, iterations=50, width=8, log_every=10)
    base = ["pan", "--ms", "m.npy", "--pan", "p.npy", "--ratio", "4", "--out", "o.npy", "--ensemble"]
    for extra, expected in (([], [10, 10]), (["--warm-start", "30"], [30, 30])):
        overrides = preset_overrides(build_parser().parse_args([*base, *extra]))
        plans = _plan_starts(problem, kwargs, overrides)
        assert [p.config.warm_start for p in plans] == expected
        assert [p.config.iterations for p in plans] == [50, 50]


def test_solve_refuses_unknown_fast_path_settings(gen: torch.Generator) -> None:
    noisy = torch.rand(1, 3, 8, 8, generator=gen)
    with pytest.raises(ValueError, match="unknown fast-path settings: turbo; use amp, channels_last"):
        solve(flash_problem(noisy, noisy), device="cpu", iterations=1, fast={"turbo": True})


def test_solve_small_image_reduces_depth_and_records_settings(gen: torch.Generator) -> None:
    noisy = torch.rand(1, 3, 12, 10, generator=gen)
    result = solve(flash_problem(noisy, noisy), device="cpu", iterations=3, width=4)
    assert result.x.shape == noisy.shape
    assert result.details["preset"]["depth"] == 3  # 12 x 10 -> 6 x 5 -> 3 x 3 -> 2 x 2
    assert result.details["budget"] == "cpu"
    with pytest.raises(ValueError, match="unknown settings: colour"):
        solve(flash_problem(noisy, noisy), device="cpu", iterations=1, colour=3)


def test_without_held_out_pixels_several_starts_give_their_mean(gen: torch.Generator) -> None:
    ms, pan = torch.rand(1, 4, 8, 8, generator=gen), torch.rand(1, 1, 32, 32, generator=gen)
    problem = pan_problem(ms, pan, 4, spatial="bicubic")
    # keep_best off: each start returns its final estimate, so the mean is exactly theirs.
    kwargs = dict(
        device="cpu", iterations=6, width=8, warm_start=2, average_last=2, log_every=2, keep_best=False, holdout=0.0
    )
    steps: list[int] = []
    (init0, _, residual0), (init, _, residual) = ENSEMBLE["pan"]
    more = {"init": init0, "residual": residual0, "more_starts": ((init, 2, residual),)}
    both = solve(problem, callback=lambda step, x, loss: steps.append(step), **more, **kwargs)  # type: ignore[arg-type]
    first = solve(problem, init=init0, residual=residual0, **kwargs)  # type: ignore[arg-type]
    second = solve(problem, init=init, residual=residual, **kwargs)  # type: ignore[arg-type]
    assert first.choice["start"] == "warm+residual" and second.choice["start"] == "warm"
    assert not torch.equal(first.x, second.x)
    assert torch.equal(both.x, (first.x + second.x) / 2)
    # The report: the mean, scored on the data, each start's own choice, one run of steps.
    assert both.choice["chosen"] == "mean" and {"mean", "classic"} <= set(both.choice)
    assert [c["start"] for c in both.choice["starts"]] == ["warm+residual", "warm"]  # type: ignore[union-attr]
    assert steps == [2, 4, 6, 8, 10, 12] and len(both.loss) == 12
    # Stacked fits average their starts the same way.
    (many,) = solve_many([problem], **more, **kwargs)  # type: ignore[arg-type]
    (one,) = solve_many([problem], init=init0, residual=residual0, **kwargs)  # type: ignore[arg-type]
    (two,) = solve_many([problem], init=init, residual=residual, **kwargs)  # type: ignore[arg-type]
    assert torch.equal(many.x, (one.x + two.x) / 2) and many.choice["chosen"] == "mean"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_several_starts_return_the_candidate_that_predicts_the_held_out_pixels_best(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    ms, pan = torch.rand(1, 4, 8, 8, generator=gen), torch.rand(1, 1, 32, 32, generator=gen)
    problem = pan_problem(ms, pan, 4, spatial="bicubic")
    # keep_best off: the classic image is no candidate, each start returns its final estimate.
    kwargs = dict(device="cpu", seed=seed, iterations=6, width=8, warm_start=2, average_last=2, keep_best=False)
    (init0, _, residual0), (init, _, residual) = ENSEMBLE["pan"]
    both = solve(problem, init=init0, residual=residual0, more_starts=((init, 2, residual),), **kwargs)  # type: ignore[arg-type]
    scores = {k: float(both.choice[k]) for k in ("start 1", "start 2", "mean")}  # type: ignore[arg-type]
    assert "classic" not in both.choice and len(set(scores.values())) == 3
    chosen = min(scores, key=scores.__getitem__)
    assert both.choice["chosen"] == chosen and both.choice["held_out"] == scores[chosen]
    # What is returned is the chosen candidate with every pixel back: each start alone, refitted
    # on every pixel exactly as a fit of that start alone is.
    first = solve(problem, init=init0, residual=residual0, **kwargs)  # type: ignore[arg-type]
    second = solve(problem, init=init, residual=residual, **kwargs)  # type: ignore[arg-type]
    expected = {"start 1": first.x, "start 2": second.x, "mean": (first.x + second.x) / 2}[chosen]
    torch.testing.assert_close(both.x, expected, rtol=0, atol=1e-6)
    assert {k: float(first.choice[k]) for k in ("held_out",)} == {"held_out": scores["start 1"]}


def test_a_mean_that_fits_worse_than_the_classic_start_is_not_returned(gen: torch.Generator) -> None:
    ms, pan = torch.rand(1, 4, 8, 8, generator=gen), torch.rand(1, 1, 32, 32, generator=gen)
    # Two starts and no step of data fit: each start returns its classic image (keep_best); the
    # mean of SFIM and the warm GSA network fits the data worse than SFIM itself.
    for holdout in (0.0, 0.1):  # scored on the data objective, then on the held-out pixels
        result = solve(
            pan_problem(ms, pan, 4, spatial="bicubic"), device="cpu", iterations=2, width=8, warm_start=2,
            average_last=0, init="sfim", more_starts=(("gsa", 2, False),), holdout=holdout,
        )  # fmt: skip
        assert result.choice["chosen"] == "classic" and result.choice["classic"] <= result.choice["mean"]
        assert result.choice["rule"] == ("holdout" if holdout else "residual")


def test_auto_start_is_the_classic_start_that_predicts_held_out_ms_pixels_best(gen: torch.Generator) -> None:
    x = torch.nn.functional.interpolate(torch.rand(1, 4, 6, 6, generator=gen), size=(32, 32), mode="bicubic")
    ms = imresize(x, scale=1 / 4)
    linear = torch.einsum("c,bchw->bhw", torch.tensor([0.1, 0.4, 0.3, 0.2]), x)[:, None] + 0.05
    other = linear + 0.5 * (torch.rand(1, 1, 32, 32, generator=gen) - 0.5)
    for pan in (linear, other):
        result = solve(pan_problem(ms, pan, 4, spatial="bicubic"), device="cpu", iterations=4, width=8, warm_start=2)
        rule = result.details["start_rule"]
        errors = rule["holdout"]  # type: ignore[index]
        assert rule["rule"] == "holdout" and set(errors) == {"gsa", "sfim"}  # type: ignore[index]
        assert rule["init"] == min(errors, key=errors.get)  # type: ignore[index]
        assert result.choice["start"] == ("warm" if rule["init"] == "gsa" else "warm+residual")  # type: ignore[index]
    # A PAN that is a band mixture: GSA's regression finds the mixture, and predicts the held-out
    # MS pixels better than SFIM's ratio does.
    rule = solve(pan_problem(ms, linear, 4, spatial="bicubic"), device="cpu", iterations=1, width=8).details[
        "start_rule"
    ]
    assert rule["init"] == "gsa" and rule["holdout"]["gsa"] < rule["holdout"]["sfim"]  # type: ignore[index]


def test_without_held_out_pixels_the_legacy_rule_chooses_by_how_well_the_ms_bands_explain_the_pan(
    gen: torch.Generator,
) -> None:
    x = torch.nn.functional.interpolate(torch.rand(1, 4, 6, 6, generator=gen), size=(32, 32), mode="bicubic")
    ms = imresize(x, scale=1 / 4)
    # A PAN that is a band mixture: explained; GSA, warm start, the network's own output.
    linear = torch.einsum("c,bchw->bhw", torch.tensor([0.1, 0.4, 0.3, 0.2]), x)[:, None] + 0.05
    assert pan_linearity(ms, linear, 4) > 0.999
    kwargs = dict(device="cpu", iterations=4, width=8, warm_start=2, holdout=0.0)
    result = solve(pan_problem(ms, linear, 4, spatial="bicubic"), **kwargs)  # type: ignore[arg-type]
    assert result.details["start_rule"]["init"] == "gsa" and result.choice["start"] == "warm"  # type: ignore[index]
    # Half of the PAN's structure that no band has: SFIM as a residual.
    other = linear + 0.5 * (torch.rand(1, 1, 32, 32, generator=gen) - 0.5)
    r2 = pan_linearity(ms, other, 4)
    assert r2 < PAN_LINEAR_R2
    result = solve(pan_problem(ms, other, 4, spatial="bicubic"), **kwargs)  # type: ignore[arg-type]
    rule = result.details["start_rule"]
    assert rule == {"rule": "pan_r2", "pan_r2": pytest.approx(r2), "threshold": PAN_LINEAR_R2, "init": "sfim",
                    "residual": True}  # fmt: skip
    assert result.choice["start"] == "warm+residual"
    # Nodata pixels are left out: a PAN spoilt only where the MS has no data is explained.
    spoilt = linear.clone()
    spoilt[..., :4, :4] = 5.0  # reaches three MS pixels a side through the bicubic reduction
    mask = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    mask[..., :3, :3] = False
    assert pan_linearity(ms, spoilt, 4) < 0.9 < 0.999 < pan_linearity(ms, spoilt, 4, ms_mask=mask)
    with pytest.raises(ValueError, match="no rule to choose its start"):
        solve(hs_problem(*_hs(gen), torch.rand(3, 6, generator=gen), 4), device="cpu", iterations=1, init="auto",
              holdout=0.0)  # fmt: skip


def test_solve_many_refuses_problems_whose_starts_differ(gen: torch.Generator) -> None:
    x = torch.nn.functional.interpolate(torch.rand(1, 4, 6, 6, generator=gen), size=(32, 32), mode="bicubic")
    ms = imresize(x, scale=1 / 4)
    linear = torch.einsum("c,bchw->bhw", torch.tensor([0.1, 0.4, 0.3, 0.2]), x)[:, None]
    other = linear + 0.5 * (torch.rand(1, 1, 32, 32, generator=gen) - 0.5)
    problems = [pan_problem(ms, linear, 4, spatial="bicubic"), pan_problem(ms, other, 4, spatial="bicubic")]
    with pytest.raises(ValueError, match="chose different starts"):
        solve_many(problems, device="cpu", iterations=2, width=8, holdout=0.0)
    assert len(solve_many(problems, device="cpu", iterations=2, width=8, init="sfim")) == 2


def test_the_hs_default_fits_two_starts_and_a_named_start_alone(gen: torch.Generator) -> None:
    hsi, rgb = torch.rand(1, 6, 4, 4, generator=gen), torch.rand(1, 3, 16, 16, generator=gen)
    srf = torch.rand(3, 6, generator=gen)
    problem = hs_problem(hsi, rgb, srf, 4)
    kwargs = dict(device="cpu", iterations=4, width=8, log_every=2)
    result = solve(problem, **kwargs)  # type: ignore[arg-type]
    choice = result.choice
    # From GSA-HS as a residual and from the authors' start, each fitted to the data ...
    assert [c["start"] for c in choice["starts"]] == ["residual", "none"]  # type: ignore[union-attr]
    # ... and the fits, their mean and GSA-HS scored on the same held-out pixels.
    scores = {k: float(choice[k]) for k in ("start 1", "start 2", "mean", "classic")}  # type: ignore[arg-type]
    assert choice["rule"] == "holdout" and choice["chosen"] == min(scores, key=scores.__getitem__)
    assert len(result.loss) == 8  # two runs of 4 steps
    # A start the caller names is fitted alone.
    alone = solve(problem, init="none", **kwargs)  # type: ignore[arg-type]
    assert "starts" not in alone.choice and len(alone.loss) == 4


def test_the_problem_builders_refuse_what_they_cannot_use_in_one_message(gen: torch.Generator) -> None:
    hsi, guide = _hs(gen)
    srf = torch.rand(3, 6, generator=gen)
    with pytest.raises(ValueError, match=r"needs the response matrix .* got 'estimate'; to estimate it"):
        hs_problem(hsi, guide, "estimate", 4)  # type: ignore[arg-type]
    for weight in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="hs_weight must be a positive number"):
            hs_problem(hsi, guide, srf, 4, hs_weight=weight)
    ms, pan = torch.rand(1, 4, 8, 8, generator=gen), torch.rand(1, 1, 32, 32, generator=gen)
    with pytest.raises(ValueError, match="band mixture contains NaN"):
        pan_problem(ms, pan, 4, mixture=torch.full((4, 4), float("nan")))
    with pytest.raises(ValueError, match="must hold real numbers"):
        flash_problem(torch.rand(3, 8, 8, dtype=torch.complex64), torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match="solve takes a problem"):
        solve(hsi)  # type: ignore[arg-type]
    # Inputs that require grad (a tensor from another model) are data: the fit runs.
    result = solve(pan_problem(ms.requires_grad_(), pan, 4), device="cpu", iterations=3, width=8, holdout=0.0)
    assert torch.isfinite(result.x).all()
    result = solve(hs_problem(hsi, guide, srf.requires_grad_(), 4), device="cpu", iterations=3, width=8)
    assert torch.isfinite(result.x).all()


def test_an_image_that_looks_h_x_w_x_c_is_named_and_a_c_x_h_x_w_one_is_not(gen: torch.Generator) -> None:
    from gdd.checks import LayoutWarning

    rgb = torch.rand(32, 32, 3, generator=gen)  # as NumPy, PIL and imageio hold an image
    with pytest.warns(LayoutWarning, match=r"the no-flash image is read as 32 bands of 32 x 3 pixels"):
        flash_problem(rgb, rgb)
    # Where the shapes then do not fit, the error follows the warning.
    with pytest.raises(ValueError, match="one band"), pytest.warns(LayoutWarning, match="the PAN image"):
        pan_problem(torch.rand(1, 8, 8, 4, generator=gen), torch.rand(32, 32, 1, generator=gen), 4, spatial="bicubic")
    hsi, guide = _hs(gen)
    with pytest.raises(ValueError), pytest.warns(LayoutWarning, match="the guide is read as 16 bands"):
        hs_problem(hsi, guide.permute(0, 2, 3, 1), torch.rand(16, 6, generator=gen), 4)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same images as C x H x W pass without a word
        flash_problem(rgb.permute(2, 0, 1), rgb.permute(2, 0, 1))
        hs_problem(hsi, guide, torch.rand(3, 6, generator=gen), 4)


def test_the_command_line_knows_its_files_layout_and_does_not_warn_of_a_narrow_scene(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from gdd.cli import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "guide.npy", rng.random((64, 4, 8)).astype(np.float32))  # a strip 4 pixels wide, 8 bands
    np.save(tmp_path / "hsi.npy", rng.random((16, 1, 6)).astype(np.float32))
    np.savetxt(tmp_path / "srf.csv", rng.random((8, 6)), delimiter=",")
    files = [f"--{n}={tmp_path / f}" for n, f in (("hsi", "hsi.npy"), ("guide", "guide.npy"), ("srf", "srf.csv"))]
    quick = ["--factor", "4", "--layout", "hwc", "--iterations", "2", "--width", "8", "--device", "cpu", "--quiet"]
    # A LayoutWarning would be an error here (pyproject's filterwarnings).
    assert main(["hs", *files, "--out", str(tmp_path / "o.npy"), *quick]) == 0
    assert main(["hs", *files, "--out", str(tmp_path / "t.npy"), "--tile", "16", "--overlap", "4", *quick]) == 0
