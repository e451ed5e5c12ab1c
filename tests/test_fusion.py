from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from gdd.fusion import FitConfig, Term, fit, fit_many, gradient_mse, resolve_device, seeded
from gdd.fusion.state import at_best
from gdd.metrics import psnr
from gdd.models import GuidedDeepDecoder
from gdd.operators import BlockAverage, Identity, SpectralResponse, imresize
from gdd.problems import held_out, holdout_error, hs_problem, solve


def test_gradient_mse_matches_the_authors_tv_loss(gen: torch.Generator) -> None:
    r = torch.randn(1, 3, 5, 7, generator=gen)
    # The authors' tv_loss2: (sum dh^2 + sum dw^2) / (H W C), written out independently.
    ref = (
        sum(float((r[0, c, i + 1, j] - r[0, c, i, j]) ** 2) for c in range(3) for i in range(4) for j in range(7))
        + sum(float((r[0, c, i, j + 1] - r[0, c, i, j]) ** 2) for c in range(3) for i in range(5) for j in range(6))
    ) / (5 * 7 * 3)
    assert float(gradient_mse(r)) == pytest.approx(ref, rel=1e-6)


def test_fit_smoke_loss_falls_beats_bicubic_and_is_reproducible() -> None:
    from gdd.demo import camera_response, simulated_scene
    from gdd.io import to_tensor

    truth = to_tensor(simulated_scene(32))
    factor = 4
    srf = torch.from_numpy(camera_response()).float()
    problem = hs_problem(BlockAverage(factor)(truth), torch.einsum("kc,bchw->bkhw", srf, truth), srf, factor)
    kwargs = dict(device="cpu", seed=3, iterations=150, width=16, depth=3, log_every=25, average_last=20)
    # The authors' start: the loss falls from a random network's.
    a = solve(problem, init="none", keep_best=False, holdout=0.0, **kwargs)
    b = solve(problem, init="none", keep_best=False, holdout=0.0, **kwargs)
    assert a.loss[-10:].mean() < 0.2 * a.loss[:10].mean()
    # The default (from GSA-HS, chosen by data consistency) is reproducible too.
    assert torch.equal(solve(problem, **kwargs).x, solve(problem, **kwargs).x)
    bicubic = imresize(problem.make_terms()[0].target, scale=factor)
    assert psnr(a.x.clamp(0, 1), truth) > psnr(bicubic.clamp(0, 1), truth) + 1
    assert torch.equal(a.x, b.x)
    assert (a.loss == b.loss).all()


def test_different_seeds_differ(gen: torch.Generator) -> None:
    y = torch.rand(1, 2, 16, 16, generator=gen)
    runs = [
        fit(
            GuidedDeepDecoder(2, 2, width=4, depth=2),
            [Term(Identity(), y)],
            y,
            FitConfig(iterations=2, seed=s, device="cpu"),
        )
        for s in (0, 1)
    ]
    assert not torch.equal(runs[0].x, runs[1].x)


def test_seeded_leaves_the_global_generator_alone() -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with seeded(11):
        torch.rand(10)
    assert torch.equal(torch.rand(3), expected)


def test_callback_sees_log_steps_only(gen: torch.Generator) -> None:
    y = torch.rand(1, 1, 8, 8, generator=gen)
    seen: list[int] = []
    fit(
        GuidedDeepDecoder(1, 1, width=4, depth=2),
        [Term(Identity(), y)],
        y,
        FitConfig(iterations=10, log_every=4, device="cpu"),
        callback=lambda s, x, loss: seen.append(s),
    )
    assert seen == [4, 8, 10]


class _Spiky(torch.nn.Module):
    """An identity whose output jumps at chosen calls: a divergence the guard must undo."""

    def __init__(self, at: set[int], jump: float = 10.0) -> None:
        super().__init__()
        self.calls = 0
        self.at = at
        self.jump = jump

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x + (self.jump if self.calls in self.at else 0.0)


def test_divergence_guard_rolls_back(gen: torch.Generator) -> None:
    y = torch.rand(1, 1, 8, 8, generator=gen)
    cfg = FitConfig(iterations=80, log_every=80, device="cpu", guard_threshold=1e-3, guard_warmup=50, noise_std=0)
    with seeded(0):
        net = GuidedDeepDecoder(1, 1, width=4, depth=2)
    result = fit(net, [Term(_Spiky({60, 61}), y)], y, cfg)
    assert result.rollbacks == 2
    # The recorded history skips the divergent steps, so later steps are judged fairly.
    assert result.loss[59:62].max() < 1


@pytest.mark.parametrize("at", [{10, 11}, {60, 75}])  # before the threshold's history, and in the averaged steps
def test_divergence_guard_rolls_back_a_nan_loss_and_keeps_it_out_of_the_result(gen: torch.Generator, at) -> None:  # type: ignore[no-untyped-def]
    # A NaN passes every comparison with a threshold; its gradient, multiplied by 0, stays NaN
    # and would poison Adam's moments; its estimate would poison the mean of the last steps.
    y = torch.rand(1, 1, 8, 8, generator=gen)
    cfg = FitConfig(iterations=80, log_every=80, device="cpu", guard_threshold=1e-3, guard_warmup=50, noise_std=0,
                    average_last=10)  # fmt: skip
    with seeded(0):
        net = GuidedDeepDecoder(1, 1, width=4, depth=2)
    result = fit(net, [Term(_Spiky(at, jump=float("nan")), y)], y, cfg)
    assert result.rollbacks == 2
    assert torch.isfinite(result.x).all() and np.isfinite(result.loss).all()
    assert float(((result.x - y) ** 2).mean()) < 0.05  # it went on fitting after them
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_learnable_operator_is_fitted(gen: torch.Generator) -> None:
    x_true = torch.rand(1, 3, 8, 8, generator=gen)
    mix = SpectralResponse(torch.eye(3), learnable=True)
    before = mix.srf.detach().clone()
    fit(
        GuidedDeepDecoder(1, 3, width=4, depth=2),
        [Term(mix, x_true.mean(1, keepdim=True).expand(1, 3, 8, 8))],
        x_true[:, :1],
        FitConfig(iterations=5, device="cpu"),
    )
    assert not torch.equal(before, mix.srf.detach())


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="lr must be positive"):
        FitConfig(lr=0)
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")


def _small_hs():  # type: ignore[no-untyped-def]
    from gdd.demo import camera_response, simulated_scene
    from gdd.io import to_tensor

    truth = to_tensor(simulated_scene(32))
    srf = torch.from_numpy(camera_response()).float()
    problem = hs_problem(BlockAverage(4)(truth), torch.einsum("kc,bchw->bkhw", srf, truth), srf, 4)
    return problem, truth


def test_classic_start_begins_at_the_classic_result() -> None:
    problem, _ = _small_hs()
    base = problem.classic("gsa")  # type: ignore[misc]
    model = GuidedDeepDecoder(3, problem.out_channels, width=8, depth=3)
    # Zero steps: the estimate is the classic image itself (base + G - G_0, G unchanged).
    result = fit(model, problem.make_terms(), problem.guide, FitConfig(iterations=0, device="cpu"), base=base)
    assert torch.allclose(result.x, base, atol=1e-6)
    assert result.choice["chosen"] == "final" and "classic" in result.choice
    with pytest.raises(ValueError, match="bands"):
        fit(model, problem.make_terms(), problem.guide, FitConfig(iterations=0, device="cpu"), base=base[:, :2])


def test_the_held_out_choice_is_close_to_the_best_candidate_in_hindsight() -> None:
    # Noisy observations (about 26 dB): the fit overtakes the classic start, then copies noise.
    problem, truth = _small_hs()
    g = torch.Generator().manual_seed(5)
    hsi, guide = problem.observation, problem.guide
    assert hsi is not None
    noisy = hs_problem(
        hsi + 0.05 * hsi.std() * torch.randn(hsi.shape, generator=g),
        guide + 0.05 * guide.std() * torch.randn(guide.shape, generator=g),
        problem.make_terms()[1].operator.srf,  # type: ignore[arg-type]
        4,
        normalize_srf=False,
    )
    seen: dict[str, float] = {}
    kwargs = dict(device="cpu", seed=1, iterations=150, width=8, depth=3, log_every=10)
    result = solve(noisy, observe=lambda name, x: seen.__setitem__(name, psnr(x.clamp(0, 1), truth)), **kwargs)
    assert result.choice["rule"] == "holdout" and result.details["preset"]["init"] == "gsa"  # type: ignore[index]
    mine = psnr(result.x.clamp(0, 1), truth)
    # The oracle: the best of every iterate and candidate the run saw, judged with the truth.
    assert len(seen) > 10 and mine >= max(seen.values()) - 0.5
    # The authors' start at the same budget is far behind the classic start the default keeps.
    plain = solve(noisy, init="none", keep_best=False, holdout=0.0, **kwargs)
    assert mine > psnr(plain.x.clamp(0, 1), truth) + 1.0
    with pytest.raises(ValueError, match="unknown classic method"):
        solve(problem, init="magic", **kwargs)


def test_warm_start_fits_the_network_to_the_classic_image_first() -> None:
    problem, _ = _small_hs()
    base = problem.classic("gsa")  # type: ignore[misc]
    terms = problem.make_terms()
    model = GuidedDeepDecoder(3, problem.out_channels, width=8, depth=3)
    config = FitConfig(iterations=60, warm_start=60, residual=False, noise_std=0.0, device="cpu", log_every=10)
    result = fit(model, terms, problem.guide, config, base=base)
    # All 60 steps pulled the network towards the classic image (no residual: the estimate is G).
    assert float(result.loss[-1]) < 0.2 * float(result.loss[0])
    assert float((result.x - base).square().mean()) == pytest.approx(float(result.loss[-1]), rel=0.5)
    with pytest.raises(ValueError, match="warm_start"):
        FitConfig(iterations=10, warm_start=11)


def test_keep_best_falls_back_to_a_classic_image_that_fits_the_data_better() -> None:
    problem, truth = _small_hs()
    model = GuidedDeepDecoder(3, problem.out_channels, width=8, depth=3)
    config = FitConfig(iterations=5, device="cpu", keep_best=True)
    # The truth fits the (noise-free) observations exactly: five steps of GDD cannot beat it.
    result = fit(model, problem.make_terms(), problem.guide, config, classic=truth)
    assert result.choice["chosen"] == "classic" and torch.equal(result.x, truth)
    assert float(result.choice["classic"]) < float(result.choice["final"])  # type: ignore[arg-type]
    # Without keep_best the comparison is recorded, the GDD estimate returned.
    config = FitConfig(iterations=5, device="cpu")
    result = fit(model, problem.make_terms(), problem.guide, config, classic=truth)
    assert result.choice["chosen"] == "final" and "classic" in result.choice and "best" not in result.choice


def test_the_eager_and_the_stacked_backend_agree(gen: torch.Generator) -> None:
    # Everything on at once: the guard (made to fire), a warm start into a residual, averaging, keep_best.
    config = FitConfig(
        iterations=50,
        log_every=10,
        device="cpu",
        guard_threshold=1e-3,
        guard_warmup=41,
        warm_start=10,
        residual_scale=0.1,
        average_last=5,
        keep_best=True,
    )
    guides = [torch.rand(1, 3, 16, 16, generator=gen) for _ in range(2)]
    bases = [torch.rand(1, 2, 16, 16, generator=gen) for _ in range(2)]

    def terms(i: int) -> list[Term]:
        # Each problem has its own spiky operator, called as often in both backends: steps 42 and 43 jump.
        return [Term(BlockAverage(4), BlockAverage(4)(bases[i])), Term(_Spiky({36, 37}), bases[i], weight=0.1)]

    def net(seed: int) -> GuidedDeepDecoder:
        with seeded(seed):
            return GuidedDeepDecoder(3, 2, width=4, depth=2)

    eager = [fit(net(s), terms(s), guides[s], replace(config, seed=s), base=bases[s]) for s in range(2)]
    for k in (1, 2):
        stacked = fit_many(
            [net(s) for s in range(k)],
            [terms(s) for s in range(k)],
            guides[:k],
            config,
            seeds=list(range(k)),
            bases=bases[:k],
        )
        for a, b in zip(eager, stacked):
            assert a.rollbacks == b.rollbacks == 2
            assert a.choice["chosen"] == b.choice["chosen"] and a.choice["best_step"] == b.choice["best_step"]
            assert [s for s, _ in a.history] == [s for s, _ in b.history] == [10, 20, 30, 40, 50]
            assert torch.allclose(torch.from_numpy(a.loss), torch.from_numpy(b.loss), rtol=1e-4, atol=1e-6)
            assert torch.allclose(a.x, b.x, atol=1e-4)
            # Each problem's Adam state comes back as its own fit's, to go on from.
            assert a.moments is not None and b.moments is not None and len(a.moments) == len(b.moments)
            for m, n in zip(a.moments, b.moments):
                assert m.keys() == n.keys() and all(torch.allclose(m[key], n[key], atol=1e-5) for key in m)


def test_a_resumed_residual_fit_goes_on_from_where_it_ended() -> None:
    problem, _ = _small_hs()
    base = problem.classic("gsa")  # type: ignore[misc]
    torch.manual_seed(0)
    model = GuidedDeepDecoder(3, problem.out_channels, width=8, depth=3)
    config = FitConfig(iterations=30, noise_std=0.03, device="cpu", residual=True, residual_scale=0.0)
    first = fit(model, problem.make_terms(), problem.guide, config, base=base)
    assert first.residual is not None and float(first.residual[1]) != 0.0  # the scale was learned
    assert not torch.allclose(first.x, base, atol=1e-3)
    # Zero steps more: the estimate where the first fit ended, not the base it started at.
    more = replace(config, iterations=0)
    again = fit(first.model, problem.make_terms(), problem.guide, more, z=first.z, base=base, resume=first.residual)
    assert torch.allclose(again.x, first.x, atol=1e-5)
    fresh = fit(first.model, problem.make_terms(), problem.guide, more, z=first.z, base=base)
    assert torch.allclose(fresh.x, base, atol=1e-6)
    with pytest.raises(ValueError, match="resume"):
        fit(first.model, problem.make_terms(), problem.guide, more, z=first.z, resume=first.residual)


def test_a_fit_that_goes_on_with_its_moments_is_one_longer_fit() -> None:
    # No per-step noise: a fit is then a function of its weights and Adam's state alone.
    problem, _ = _small_hs()
    config = FitConfig(iterations=40, noise_std=0.0, device="cpu")

    def net() -> GuidedDeepDecoder:
        with seeded(0):
            return GuidedDeepDecoder(3, problem.out_channels, width=8, depth=3)

    whole = fit(net(), problem.make_terms(), problem.guide, config)
    half = replace(config, iterations=20)
    first = fit(net(), problem.make_terms(), problem.guide, half)
    assert first.moments is not None and len(first.moments) == len(list(first.model.parameters()))

    def go_on(**moments: object) -> torch.Tensor:
        model = copy.deepcopy(first.model)
        return fit(model, problem.make_terms(), problem.guide, half, z=first.z, **moments).x  # type: ignore[arg-type]

    assert torch.allclose(go_on(moments=first.moments), whole.x, atol=1e-5)
    # A fresh Adam's first steps move every weight by about the learning rate: another fit.
    assert not torch.allclose(go_on(), whole.x, atol=1e-3)
    with pytest.raises(ValueError, match="moments"):
        go_on(moments=first.moments[:-1])


def test_a_fit_chosen_at_an_earlier_step_goes_on_from_that_step() -> None:
    problem, _ = _small_hs()
    fitted, validation = held_out(problem, 0.1, seed=0)
    base = fitted.classic("gsa")  # type: ignore[misc]
    # A fit whose best held-out iterate came before its last. Whether a short fit's does depends
    # on the platform's rounding (these fits are still improving), so the first of ten seeds
    # whose fit chose an earlier step is taken; about half of them do.
    for seed in range(10):
        with seeded(seed):
            model = GuidedDeepDecoder(3, problem.out_channels, width=8, depth=3)
            terms = fitted.make_terms()
        config = FitConfig(
            iterations=60, lr=0.05, noise_std=0.03, device="cpu", keep_best=True, validate_every=10, seed=seed
        )
        first = fit(model, terms, fitted.guide, config, base=base, validation=validation)
        if first.choice["chosen"] == "best":
            break
    assert first.choice["chosen"] == "best" and first.choice["best_step"] < 60  # an earlier iterate than the last
    best = at_best(first, terms)
    # Its weights, scale and Adam's state are those of the best step: zero steps more give its estimate again.
    more = replace(config, iterations=0, keep_best=False)
    again = fit(best.model, terms, fitted.guide, more, z=first.z, base=base, resume=best.residual, moments=best.moments)
    assert holdout_error(again.x, validation) == pytest.approx(first.choice["best"], rel=1e-5)
    assert best.moments is not None and first.moments is not None
    assert float(best.moments[0]["step"]) == first.choice["best_step"] < float(first.moments[0]["step"])
    # The fit it was taken from is left as it ended.
    end = fit(first.model, terms, fitted.guide, more, z=first.z, base=base, resume=first.residual)
    assert holdout_error(end.x, validation) != pytest.approx(first.choice["best"], rel=1e-3)
    with pytest.raises(ValueError, match="best step"):
        at_best(replace(first, best_state=None), terms)
