"""Held-out validation: the draw, the filling, the split of a problem, and the choices it makes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gdd.fusion import FitConfig, FitResult, Term, fit
from gdd.fusion.objective import pixel_errors, separation
from gdd.models import GuidedDeepDecoder
from gdd.operators import make_spatial
from gdd.problems import flash_problem, held_out, holdout_error, holdout_mask, pan_problem
from gdd.problems.classic import consistent
from gdd.problems.pixels import fill


def test_the_draw_is_seeded_and_takes_the_share_of_valid_pixels() -> None:
    a = holdout_mask(20, 30, 0.1, seed=3)
    assert a.shape == (1, 1, 20, 30) and int(a.sum()) == 60
    assert torch.equal(a, holdout_mask(20, 30, 0.1, seed=3))
    assert not torch.equal(a, holdout_mask(20, 30, 0.1, seed=4))
    valid = torch.zeros(1, 1, 20, 30, dtype=torch.bool)
    valid[..., :10, :] = True
    b = holdout_mask(20, 30, 0.1, seed=3, valid=valid)
    assert int(b.sum()) == 30 and not bool((b & ~valid).any())
    with pytest.raises(ValueError, match="between 0 and 1"):
        holdout_mask(4, 4, 1.0, seed=0)


def test_the_folds_of_one_seed_are_disjoint_draws_of_the_same_share() -> None:
    assert torch.equal(holdout_mask(20, 30, 0.1, seed=3, fold=0), holdout_mask(20, 30, 0.1, seed=3))
    valid = torch.rand(1, 1, 20, 30, generator=torch.Generator().manual_seed(1)) < 0.8
    folds = [holdout_mask(20, 30, 0.1, seed=3, valid=valid, fold=k) for k in range(9)]
    n = int(valid.sum())
    assert all(int(f.sum()) == round(0.1 * n) and not bool((f & ~valid).any()) for f in folds)
    assert int(torch.stack(folds).sum(dim=0).max()) == 1  # no pixel in two folds
    with pytest.raises(ValueError, match="fold 9 of"):
        holdout_mask(20, 30, 0.1, seed=3, valid=valid, fold=9)  # the tenth would leave no pixel kept
    with pytest.raises(ValueError, match="fold -1"):
        holdout_mask(20, 30, 0.1, seed=3, fold=-1)


def test_no_pixel_is_held_out_where_the_guide_has_no_data(gen: torch.Generator) -> None:
    """A held-out MS pixel under the PAN's nodata would score what the result leaves nodata: it stays in the fit."""
    ms, pan = _pan_pair(gen)
    pan_mask = torch.ones(32, 32, dtype=torch.bool)
    pan_mask[:, :13] = False  # the left 13 PAN columns: MS columns 0-3 have a footprint without data
    fitted, validation = held_out(pan_problem(ms, pan, 4, spatial="bicubic", pan_mask=pan_mask), 0.5, seed=0)
    held = validation[0].mask.bool()  # type: ignore[union-attr]
    # Column 4's degradation (bicubic: 16 PAN pixels wide, centred on PAN column 17.5) reaches columns 10-12 too.
    assert not bool(held[..., :5].any()) and int(held.sum()) == round(0.5 * 8 * 3)
    ms_term = next(t for t in fitted.make_terms() if t.name == "ms")
    assert ms_term.mask is not None and bool(ms_term.mask[..., :5].bool().all())  # those pixels are fitted
    # Every model compared is scored on the same pixels, whatever its kernel's width.
    mtf = held_out(pan_problem(ms, pan, 4, spatial="mtf", pan_mask=pan_mask), 0.5, seed=0)[1][0].mask
    assert torch.equal(mtf, validation[0].mask)  # type: ignore[arg-type]
    # Without nodata in the guide the draw is the one among all observed pixels.
    plain = held_out(pan_problem(ms, pan, 4, spatial="bicubic"), 0.5, seed=0)[1][0].mask
    assert torch.equal(plain, holdout_mask(8, 8, 0.5, seed=0).float())  # type: ignore[arg-type]


def test_fill_keeps_kept_pixels_and_takes_held_ones_from_their_neighbours() -> None:
    x = torch.arange(2 * 25, dtype=torch.float32).reshape(1, 2, 5, 5)
    keep = torch.ones(1, 1, 5, 5, dtype=torch.bool)
    keep[..., 2, 2] = False
    keep[..., 0, 0] = False
    out = fill(x, keep)
    assert torch.equal(out[keep.expand_as(x)], x[keep.expand_as(x)])
    # A linear ramp: the mean of the 8 neighbours is the pixel itself.
    assert torch.allclose(out[..., 2, 2], x[..., 2, 2])
    assert torch.allclose(out[0, :, 0, 0], x[0, :, [0, 1, 1], [1, 0, 1]].mean(dim=-1))


def _pan_pair(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    smooth = torch.nn.functional.avg_pool2d(torch.rand(1, 4, 40, 40, generator=gen), 5, 1, 2)[..., 4:36, 4:36]
    pan = smooth.mean(dim=1, keepdim=True)
    ms = torch.nn.functional.avg_pool2d(smooth, 4)
    return ms, pan


def test_classic_candidates_never_see_the_held_out_pixels(gen: torch.Generator) -> None:
    ms, pan = _pan_pair(gen)
    problem = pan_problem(ms, pan, 4, spatial="bicubic")
    fitted, validation = held_out(problem, 0.1, seed=0)
    held = validation[0].mask.bool()  # type: ignore[union-attr]
    assert int(held.sum()) == round(0.1 * 64)
    changed = ms.clone()
    changed[held.expand_as(ms)] = 5.0  # held-out values changed wildly
    fitted2, validation2 = held_out(pan_problem(changed, pan, 4, spatial="bicubic"), 0.1, seed=0)
    for name in ("gsa", "sfim"):
        assert torch.equal(fitted.classic(name), fitted2.classic(name))  # type: ignore[misc]
    # ... and the fitted terms leave them out, while the validation terms score only them.
    terms = fitted.make_terms()
    ms_term = next(t for t in terms if t.name == "ms")
    assert ms_term.mask is not None and not bool((ms_term.mask.bool() & held).any())
    x = torch.rand(1, 4, 32, 32, generator=gen)
    assert holdout_error(x, validation2) != holdout_error(x, validation)


def test_the_fit_returns_the_iterate_of_lowest_held_out_error_and_stops_when_it_stalls(gen: torch.Generator) -> None:
    # Denoising with the flash task: the fit first smooths, then copies the noise; the noise of
    # the held-out pixels cannot be learned, so their error rises again past the best step.
    clean = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 40, 40, generator=gen), 7, 1, 3)[..., 4:36, 4:36]
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=gen)
    problem = flash_problem(noisy, clean.mean(dim=1, keepdim=True))
    fitted, validation = held_out(problem, 0.1, seed=0)
    torch.manual_seed(0)
    net = GuidedDeepDecoder(1, 3, width=8, depth=3)
    config = FitConfig(iterations=400, lr=0.01, noise_std=0.0, device="cpu", keep_best=True, validate_every=10,
                       patience=5)  # fmt: skip
    result = fit(net, fitted.make_terms(), fitted.guide, config, validation=validation)
    steps, errors = zip(*result.validation)
    assert result.choice["rule"] == "holdout"
    assert result.choice["best_step"] == steps[int(np.argmin(errors))]
    assert result.steps == steps[-1] and result.steps == len(result.loss)
    if result.steps < 400:  # stopped: the last `patience` scorings did not improve
        assert min(errors[-5:]) > min(errors)
    chosen = result.choice[str(result.choice["chosen"])]
    scores = {k: v for k, v in result.choice.items() if k in ("final", "best", "classic")}
    assert chosen == min(scores.values())
    # The runner-up is the candidate of second-lowest error; the chosen one is ahead of it.
    runner = result.choice["runner_up"]
    assert scores[runner] == min(v for k, v in scores.items() if k != result.choice["chosen"])
    assert result.choice["separation"] >= 0


def test_separation_is_a_paired_difference_of_held_out_errors_in_standard_errors(gen: torch.Generator) -> None:
    target = torch.rand(1, 3, 12, 12, generator=gen)
    held = holdout_mask(12, 12, 0.25, seed=0).float()
    v = [Term(make_spatial("block", 1), target, mask=held)]
    noise = torch.randn(1, 3, 12, 12, generator=gen)
    good, bad = target + 0.01 * noise, target + 0.03 * noise
    per = pixel_errors(good, v)
    assert per.shape == (36,)
    # The pixels' errors average to the held-out error.
    assert float(per.mean()) == pytest.approx(holdout_error(good, v), rel=1e-6)
    # The same noise three times larger: every pixel worse, far apart; the sign says which is ahead.
    assert separation(good, bad, v) > 4 and separation(bad, good, v) == -separation(good, bad, v)
    # Two draws of the same noise level: not told apart.
    other = target + 0.01 * torch.randn(1, 3, 12, 12, generator=gen)
    assert abs(separation(good, other, v)) < 3
    # Not defined for one estimate against itself, or without held-out pixels to compare.
    assert math.isnan(separation(good, good, v))
    with pytest.raises(ValueError, match="mask of the held-out pixels"):
        separation(good, bad, [Term(make_spatial("block", 1), target)])


def test_reference_never_touches_the_fit(tmp_path, shared) -> None:  # type: ignore[no-untyped-def]
    from gdd.cli import main

    crop = np.load(shared / "fixtures" / "gdd_pan_im4_crop.npz")
    np.save(tmp_path / "ms.npy", crop["ms"][:12, :12])
    np.save(tmp_path / "pan.npy", crop["pan"][:48, :48])
    np.save(tmp_path / "gt.npy", crop["gt"][:48, :48])
    common = ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4",
              "--iterations", "30", "--width", "8", "--device", "cpu", "--quiet", "--tile", "none"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "a.npy")]) == 0
    assert main([*common, "--out", str(tmp_path / "b.npy"), "--reference", str(tmp_path / "gt.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_hs_and_flash_results_do_not_depend_on_a_reference(tmp_path, shared) -> None:  # type: ignore[no-untyped-def]
    from gdd.cli import main

    cube = np.load(shared / "fixtures" / "cave_balloons_crop64.npz")["hsi"][:32, :32].astype(np.float32) / 65535
    srf = np.abs(np.random.default_rng(0).normal(size=(3, 31))).astype(np.float32)
    srf /= srf.sum(axis=1, keepdims=True)
    np.save(tmp_path / "gt.npy", cube)
    np.save(tmp_path / "hsi.npy", cube.reshape(8, 4, 8, 4, 31).mean(axis=(1, 3)))
    np.save(tmp_path / "rgb.npy", cube @ srf.T)
    np.savetxt(tmp_path / "srf.csv", srf, delimiter=",")
    hs = ["hs", "--hsi", str(tmp_path / "hsi.npy"), "--guide", str(tmp_path / "rgb.npy"), "--srf",
          str(tmp_path / "srf.csv"), "--factor", "4"]  # fmt: skip
    flash = ["flash", "--noisy", str(tmp_path / "rgb.npy"), "--guide", str(tmp_path / "rgb.npy")]
    rest = ["--iterations", "30", "--width", "8", "--device", "cpu", "--quiet", "--tile", "none", "--layout", "hwc"]
    for name, command in (("hs", hs), ("flash", flash)):
        ref = tmp_path / ("gt.npy" if name == "hs" else "rgb.npy")
        assert main([*command, *rest, "--out", str(tmp_path / f"{name}-a.npy")]) == 0
        assert main([*command, *rest, "--out", str(tmp_path / f"{name}-b.npy"), "--reference", str(ref)]) == 0
        assert np.array_equal(np.load(tmp_path / f"{name}-a.npy"), np.load(tmp_path / f"{name}-b.npy")), name


def test_a_fit_stops_where_its_objective_stops_falling(gen: torch.Generator) -> None:
    clean = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 24, 24, generator=gen), 5, 1, 2)
    problem = flash_problem(clean, clean.mean(dim=1, keepdim=True))

    fitted, validation = held_out(problem, 0.1, seed=0)

    def steps(validated: bool = False, **settings: object) -> int:
        torch.manual_seed(0)
        net = GuidedDeepDecoder(1, 3, width=8, depth=2)
        config = FitConfig(iterations=120, noise_std=0.0, device="cpu", validate_every=10, **settings)  # type: ignore[arg-type]
        if validated:
            result = fit(net, fitted.make_terms(), fitted.guide, config, validation=validation)
        else:
            result = fit(net, problem.make_terms(), problem.guide, config)
        assert len(result.loss) == result.steps
        return result.steps

    assert steps() == 120
    # A learning rate too small to move the objective by 0.1 %: the first scoring sets the
    # lowest value, three more without a lower one end the fit.
    assert steps(lr=1e-9, plateau=3) == 40
    assert steps(plateau=3) > 40  # a fit that is still learning runs on
    # With validation terms as well (going on with every pixel), and the averaging window after it.
    assert steps(True, lr=1e-9, plateau=3) == 40
    assert steps(True, lr=1e-9, plateau=3, average_last=5) == 45
    with pytest.raises(ValueError, match="plateau"):
        FitConfig(plateau=-1)


def test_consistent_adds_the_least_norm_correction_that_matches_the_kept_pixels() -> None:
    gen = torch.Generator().manual_seed(0)
    op = make_spatial("bicubic", 2)
    x0, y = torch.rand(1, 1, 8, 8, generator=gen), torch.rand(1, 1, 4, 4, generator=gen)
    keep = torch.ones(1, 1, 4, 4)
    keep[..., 1, 2] = keep[..., 3, 0] = 0
    y_masked = y.clone()
    y_masked[keep == 0] = float("nan")  # a nodata value never reaches the result
    x = consistent(x0, op, y_masked, keep, steps=100)
    # The operator as a matrix over the kept pixels, and the closed form x0 + A^T (A A^T)^-1 (y - A x0).
    a = torch.stack([op(e.reshape(1, 1, 8, 8)).reshape(-1) for e in torch.eye(64)], dim=1).double()
    kept = keep.reshape(-1) > 0
    a_k, r = a[kept], (y.reshape(-1) - a @ x0.reshape(-1).double())[kept]
    expected = x0.reshape(-1).double() + a_k.T @ torch.linalg.solve(a_k @ a_k.T, r)
    assert torch.allclose(x.reshape(-1).double(), expected, atol=1e-4)
    assert torch.allclose(op(x)[keep > 0], y[keep > 0], atol=1e-4)
    assert not torch.allclose(op(x)[keep == 0], y[keep == 0], atol=1e-2)  # held-out pixels stay unseen


def test_until_stops_at_the_first_scoring_that_reaches_the_target(gen: torch.Generator) -> None:
    clean = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 40, 40, generator=gen), 7, 1, 3)[..., 4:36, 4:36]
    problem = flash_problem(clean + 0.05 * torch.randn(clean.shape, generator=gen), clean.mean(dim=1, keepdim=True))
    fitted, validation = held_out(problem, 0.1, seed=0)

    def run(until: float | None, average_last: int = 0) -> FitResult:
        torch.manual_seed(0)
        net = GuidedDeepDecoder(1, 3, width=8, depth=3)
        config = FitConfig(iterations=100, lr=0.01, noise_std=0.0, device="cpu", validate_every=10, until=until,
                           average_last=average_last)  # fmt: skip
        return fit(net, fitted.make_terms(), fitted.guide, config, validation=validation)

    full = run(None).validation
    assert [s for s, _ in full] == list(range(10, 101, 10))
    target = sorted(e for _, e in full)[4]  # reached at some scoring, not at the first
    first = next(s for s, e in full if e <= target)
    assert 10 < first < 90
    assert run(target).validation == [(s, e) for s, e in full if s <= first]  # the same fit, stopped there
    # With averaging, the fit still ends on the mean of its last estimates: 5 steps more.
    averaged = run(target, average_last=5)
    assert averaged.steps == first + 5 and averaged.validation[-1][0] == first + 5


def test_the_callback_sees_every_step_the_chosen_fit_goes_on_with_every_pixel() -> None:
    from gdd.demo import camera_response, simulated_scene
    from gdd.problems import hs_problem, solve
    from gdd.progress import ProgressBar

    truth = torch.from_numpy(simulated_scene(64)).permute(2, 0, 1)[None].float()
    srf = torch.from_numpy(camera_response()).float()
    guide = torch.einsum("kc,bchw->bkhw", srf, truth)
    problem = hs_problem(torch.nn.functional.avg_pool2d(truth, 4), guide, srf, 4, check_degradations=False)
    steps: list[int] = []
    bar = ProgressBar(100, quiet=False)  # the two starts' 2 x 50 steps: the refit goes past them
    result = solve(problem, device="cpu", iterations=50, width=16, log_every=10,
                   callback=lambda s, x, loss: (steps.append(s), bar(s, x, loss)))  # fmt: skip
    went = sum(int(c.get("refit_steps", 0)) for c in result.choice["starts"])
    assert result.choice["chosen"] != "classic" and went > 0
    # The starts' steps, then the refits', counted on without a gap or a repeat.
    assert steps == list(range(10, 100 + went + 1, 10))
    assert bar.bar is not None and bar.bar.total == 100 + went and bar.bar.n == 100 + went
    bar.close()


def test_a_fit_at_the_noise_and_not_ahead_of_the_mean_gives_way_to_the_mean() -> None:
    from types import SimpleNamespace

    from gdd.fusion import Term
    from gdd.operators import Identity
    from gdd.problems.solve import _at_the_noise

    g = torch.Generator().manual_seed(0)
    mixing, signals = torch.rand(31, 3, generator=g), torch.rand(3, 32 * 32, generator=g)
    clean = (mixing @ signals).reshape(1, 31, 32, 32)
    noisy = clean + 0.01 * torch.randn(1, 31, 32, 32, generator=g)  # noise variance 1e-4
    held = holdout_mask(32, 32, 0.1, seed=0).float()
    validation = [Term(Identity(), noisy, mask=held, loss="mse")]
    problem = SimpleNamespace(task="hs", observation=noisy, observation_mask=None, observed="hs")
    plan = SimpleNamespace(validation=validation, terms=[Term(Identity(), noisy, mask=1 - held, name="hs")])

    def near(scale: float, seed: int) -> torch.Tensor:
        return clean + scale * torch.randn(1, 31, 32, 32, generator=torch.Generator().manual_seed(seed))

    one, two = near(0.002, 1), near(0.004, 2)  # both close to the clean image: at the noise
    candidates = {"start 1": one, "start 2": two, "mean": (one + two) / 2}
    scores = {k: holdout_error(x, validation) for k, x in candidates.items()}
    assert min(scores, key=scores.__getitem__) == "start 1"
    record = _at_the_noise("start 1", candidates, scores, plan, problem)  # type: ignore[arg-type]
    assert record is not None and record["instead_of"] == "start 1"
    # The noise is the kept pixels': noise added to the held-out ones alone does not move it.
    louder = SimpleNamespace(
        **{**vars(problem), "observation": noisy + 0.05 * held * torch.randn(noisy.shape, generator=g)}
    )
    assert _at_the_noise("start 1", candidates, scores, plan, louder) == record  # type: ignore[arg-type]
    assert record["times_noise"] <= 2 and record["ahead"] < 2  # type: ignore[operator]
    # Far from the noise (a clean observation: no noise to be at), a single fit stays chosen.
    quiet = SimpleNamespace(task="hs", observation=clean, observation_mask=None, observed="hs")
    assert _at_the_noise("start 1", candidates, scores, plan, quiet) is None  # type: ignore[arg-type]
    # Clearly ahead of the mean, it stays chosen too.
    far = {**candidates, "mean": (one + near(0.2, 3)) / 2}
    far_scores = {k: holdout_error(x, validation) for k, x in far.items()}
    assert _at_the_noise("start 1", far, far_scores, plan, problem) is None  # type: ignore[arg-type]
    assert _at_the_noise("mean", candidates, scores, plan, problem) is None  # type: ignore[arg-type]
    # Pansharpening's few MS bands: not the HS image the estimate and the rule were made for.
    pan = SimpleNamespace(task="pan", observation=noisy, observation_mask=None, observed="hs")
    assert _at_the_noise("start 1", candidates, scores, plan, pan) is None  # type: ignore[arg-type]


def test_the_result_line_says_why_the_fits_were_averaged_at_the_noise() -> None:
    from gdd.problems.said import choice_line

    starts = [{"classic_name": "gsa", "start": "residual"}, {"classic_name": "gsa", "start": "none"}]
    choice = {
        "start 1": 6.13e-05, "start 2": 7.72e-05, "mean": 6.18e-05, "classic": 6.48e-05, "chosen": "mean",
        "rule": "holdout", "runner_up": "start 1", "separation": -0.28, "starts": starts,
        "classic_name": "gsa", "start": "residual",
        "at_noise": {"instead_of": "start 1", "noise_variance": 5.94e-05, "times_noise": 1.03, "ahead": 0.28},
    }  # fmt: skip
    line = choice_line(choice, {"task": "hs"})
    assert line.startswith("result: the mean of 2 GDD fits")
    assert "predicted the held-out pixels best (6.13e-05), 0.3 standard errors ahead of the mean" in line
    assert "at 1.03 times the observation's noise variance (5.94e-05): at the noise and not told apart" in line
    assert "ahead of the next best" not in line  # the negative separation is not printed as a lead
    del choice["at_noise"]
    assert "ahead of the next best" in choice_line(choice, {"task": "hs"})


def test_the_average_at_the_noise_is_an_option_of_gdd_hs_off_by_default() -> None:
    from gdd.cli.fusion import preset_overrides
    from gdd.cli.parser import build_parser
    from gdd.problems.presets import choose_preset

    base = ["hs", "--hsi", "h.npy", "--guide", "g.npy", "--srf", "s.csv", "--factor", "4", "--out", "o.npy"]
    cpu = torch.device("cpu")
    for extra, on in (([], False), (["--average-at-noise"], True)):
        overrides = preset_overrides(build_parser().parse_args([*base, *extra]))
        assert ("average_at_noise" in overrides) is on
        preset = choose_preset("hs", cpu, None, overrides)[1]  # type: ignore[arg-type]
        assert preset.average_at_noise is on
