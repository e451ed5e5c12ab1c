"""What else the HS default could do with its two fits, measured against what it does.

    python benchmarks/hs_alternatives.py [--data ../shared/data]
        [--cases cave128_x8,cave128_x8_snr30,cave128_x8_d5100,cave128_x8_shift1,hs128,
                 jelly_beans_d5100_blind,jelly_beans_cie1931_blind]
        [--guide-holdout cave128_x8,cave128_x8_snr30,hs128]
        [--out benchmarks/results/hs-alternatives-cpu.json]

``gdd hs`` fits the network from GSA-HS (start 1) and alone (start 2); held-out low-resolution
pixels choose among the two fits, their mean and GSA-HS (the lowest held-out error), and the
fits chosen go on with every pixel. Each case is fitted once with the default, and the two fits
as fitted are kept, so that other rules can be scored on the same fits:

- **choices** among the candidates as fitted: the default's (lowest held-out error); the mean
  unless a single fit is ahead of it by :data:`gdd.fusion.objective.SEPARATED` standard errors
  (a mean of two fits has at most the mean of their squared errors, so without evidence against
  it, it is the lower-risk pick); the mean weighted by the held-out pixels (the weight that
  minimises their error, in [0, 1]: "the ensemble's weights" chosen by held-out pixels);
- **after the choice**: the default's going on with every pixel, against making the chosen
  estimate consistent with every low-resolution pixel by conjugate gradients
  (:func:`gdd.problems.classic.consistent`, iterative back-projection), which takes a fraction
  of a second;
- **held-out guide pixels** (each case of ``--guide-holdout``, a second run): 5 % of the
  guide's pixels are left out of the guide term and filled from their neighbours in the guide
  the network and GSA-HS see, and the candidates are scored on them (what a score at the
  guide's resolution would choose).

The cases: the bench's (built as ``bench_cases.py`` builds them), ``hs128`` (``speed.py``'s
unseen scene) and two blind pairs of ``two_sensor.py`` (jelly beans, the response and the blur
estimated from the pair, as ``--srf estimate --blur estimate`` does). PSNR against the
reference. CPU preset, seed 0. Never run by pytest; JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
GUIDE_SHARE = 0.05


def _psnr(x: torch.Tensor, reference: torch.Tensor) -> float:
    from gdd.metrics import psnr

    return float(psnr(x.float().clamp(0, 1), reference))


def _run(problem: Any, seed: int = 0) -> tuple[Any, dict[str, torch.Tensor], Any, float]:
    """The default run: its result, each start and GSA-HS as fitted, the validation terms, the going on's seconds."""
    solve_module: Any = importlib.import_module("gdd.problems.solve")
    original = solve_module._combine
    seen: dict[str, torch.Tensor] = {}
    timed: list[float] = []

    def combine(results: Any, plans: Any, *args: Any, **kwargs: Any) -> Any:
        seen.update({f"start {k + 1}": r.x.detach().float().clone() for k, r in enumerate(results)})
        if plans[0].classic_image is not None:
            seen["classic"] = plans[0].classic_image.detach().float().clone()
        seen["_validation"] = plans[0].validation
        start = time.perf_counter()
        out = original(results, plans, *args, **kwargs)
        timed.append(time.perf_counter() - start)
        return out

    solve_module._combine = combine
    try:
        result = solve_module.solve(problem, device="cpu", seed=seed)
    finally:
        solve_module._combine = original
    validation: Any = seen.pop("_validation")
    seen["mean"] = (seen["start 1"] + seen["start 2"]) / 2
    return result, seen, validation, timed[0]


def _residuals(x: torch.Tensor, validation: Any) -> torch.Tensor:
    """x's residuals at the held-out pixels, every band."""
    out = []
    for t in validation:
        r = t.operator(x) - t.target.to(x)
        held = t.mask.reshape(-1) > 0
        out.append(r.permute(1, 0, 2, 3).reshape(r.shape[1], -1)[:, held].reshape(-1).double())
    return torch.cat(out)


def _checked(problem: Any) -> Any:
    """The problem under the degradations the default's check keeps (given or estimated from the pair)."""
    if problem.check is None:
        return problem
    from gdd.problems.solve import checked_problem

    return checked_problem(problem)[0]


def default_choice(seen: dict[str, torch.Tensor], validation: Any) -> tuple[dict[str, float], str, float]:
    """Each candidate's held-out error, the default's pick (the lowest) and how far it is ahead of the mean (SE)."""
    from gdd.fusion.objective import separation
    from gdd.problems.holdout import holdout_error

    held = {k: holdout_error(x, validation) for k, x in seen.items()}
    chosen = min(held, key=held.__getitem__)
    ahead = separation(seen[chosen], seen["mean"], validation) if chosen != "mean" else 0.0
    return held, chosen, ahead


def choices(problem: Any, reference: torch.Tensor) -> dict[str, Any]:
    """The default run, the other rules on its fits as fitted, and back-projection after the choice."""
    from gdd.fusion.objective import SEPARATED
    from gdd.problems.classic import consistent
    from gdd.problems.holdout import holdout_error

    start = time.perf_counter()
    problem = _checked(problem)
    result, seen, validation, going_on = _run(problem)
    seconds = time.perf_counter() - start
    held, chosen, ahead = default_choice(seen, validation)
    prefer_mean = "mean" if chosen.startswith("start ") and ahead < SEPARATED else chosen
    e1, e2 = _residuals(seen["start 1"], validation), _residuals(seen["start 2"], validation)
    d = e1 - e2
    w = min(max(float((e2 * (e2 - e1)).sum() / (d * d).sum()), 0.0), 1.0)
    weighted = w * seen["start 1"] + (1 - w) * seen["start 2"]
    observed = {t.name: t for t in problem.make_terms()}[problem.observed]
    start = time.perf_counter()
    projected = consistent(seen[chosen], observed.operator, observed.target, observed.mask)
    projecting = time.perf_counter() - start
    return {
        "seconds": seconds,
        "as_fitted": {k: {"psnr": _psnr(x, reference), "held_out": held[k]} for k, x in seen.items()},
        "chosen": chosen,
        "default_chose": result.choice.get("chosen"),
        "mean_separation": ahead,
        "prefer_mean": {"chosen": prefer_mean, "psnr": _psnr(seen[prefer_mean], reference)},
        "weighted": {"weight": w, "psnr": _psnr(weighted, reference), "held_out": holdout_error(weighted, validation)},
        "going_on": {"psnr": _psnr(result.x, reference), "seconds": going_on},
        "back_projection": {"psnr": _psnr(projected, reference), "seconds": projecting},
    }


def _blind_spot(problem: Any, share: float) -> tuple[Any, torch.Tensor]:
    """The problem with ``share`` of the guide's pixels left out of the guide term and filled from their neighbours."""
    from gdd.problems import hs_problem

    terms = {t.name: t for t in problem.make_terms()}
    hs, guide = terms["hs"], terms["guide"]
    g = guide.target
    left = torch.rand(1, 1, *g.shape[-2:], generator=torch.Generator().manual_seed(1)) < share
    keep = (~left).float()
    box = torch.ones(1, 1, 3, 3)
    around = torch.nn.functional.conv2d(g * keep, box.expand(g.shape[1], 1, 3, 3), padding=1, groups=g.shape[1])
    filled = torch.where(left, around / torch.nn.functional.conv2d(keep, box, padding=1).clamp_min(1e-6), g)
    remade = hs_problem(
        hs.target, filled, guide.operator.srf, problem.factor, spatial=hs.operator, normalize_srf=False,
        guide_mask=~left[0, 0], check_degradations=False,
    )  # fmt: skip
    return remade, left


def guide_holdout(problem: Any, reference: torch.Tensor) -> dict[str, Any]:
    """The candidates of a run with held-out guide pixels, scored on those pixels."""
    from gdd.fusion.objective import paired_separation

    remade, left = _blind_spot(problem, GUIDE_SHARE)
    _, seen, _, _ = _run(remade)
    guide = {t.name: t for t in problem.make_terms()}["guide"]
    pick = left.reshape(-1)
    errors = {
        k: (guide.operator(x) - guide.target).square().mean(1).reshape(-1)[pick].double() for k, x in seen.items()
    }
    chosen = min(errors, key=lambda k: float(errors[k].mean()))
    return {
        "chosen": chosen,
        "candidates": {
            k: {
                "psnr": _psnr(x, reference),
                "held_out_guide": float(errors[k].mean()),
                "behind": paired_separation(errors[chosen], errors[k]) if k != chosen else 0.0,
            }
            for k, x in seen.items()
        },
    }


def _blind_pair(data: Path, name: str, work: Path) -> tuple[Any, torch.Tensor]:
    """A pair of ``two_sensor.py`` (``<scene>_<case>_blind``) with the response and blur estimated from it."""
    import numpy as np
    from two_sensor import FACTOR, make_pair

    from gdd.estimate import estimate_degradation
    from gdd.io import to_tensor
    from gdd.operators import KernelDownsample
    from gdd.problems import hs_problem

    scene, case = name.removesuffix("_blind").rsplit("_", 1)
    c = make_pair(data, scene, case, work / name)
    hsi, msi, gt = (to_tensor(np.load(c / f"{n}.npy")) for n in ("hsi", "msi", "gt"))
    found = estimate_degradation(hsi, msi, FACTOR)
    spatial = KernelDownsample(found.kernel.float(), FACTOR)
    problem = hs_problem(
        hsi, msi, found.srf.float(), FACTOR, spatial=spatial, normalize_srf=False, check_degradations=False
    )
    return problem, gt


def table(report: dict[str, Any]) -> list[str]:
    """The docs' table: PSNR (dB) of each rule's pick as fitted, and of the two ways to give back every pixel."""
    lines = [
        "| case | start 1 | start 2 | mean | GSA-HS | default's choice | mean unless a fit is 2 SE ahead "
        "| held-out-weighted mean (weight) | going on (s) | back-projection (s) |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for name, row in report["choices"].items():
        fitted = row["as_fitted"]
        cells = [f"{fitted[k]['psnr']:.2f}" for k in ("start 1", "start 2", "mean", "classic")]
        cells.append(f"{row['chosen']} ({fitted[row['chosen']]['psnr']:.2f})")
        cells.append(f"{row['prefer_mean']['chosen']} ({row['prefer_mean']['psnr']:.2f})")
        cells.append(f"{row['weighted']['psnr']:.2f} ({row['weighted']['weight']:.2f})")
        cells.append(f"{row['going_on']['psnr']:.2f} ({row['going_on']['seconds']:.0f})")
        cells.append(f"{row['back_projection']['psnr']:.2f} ({row['back_projection']['seconds']:.1f})")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def guide_table(report: dict[str, Any]) -> list[str]:
    """The docs' table: each candidate's PSNR (dB) in the run with held-out guide pixels, and the one they chose."""
    names = ("start 1", "start 2", "mean", "classic")
    lines = ["| case | " + " | ".join(names).replace("classic", "GSA-HS") + " | held-out guide pixels chose |"]
    lines.append("|---|" + "---:|" * len(names) + "---|")
    for name, row in report["guide_holdout"].items():
        cells = [f"{row['candidates'][k]['psnr']:.2f}" for k in names]
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {row['chosen']} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument(
        "--cases",
        default="cave128_x8,cave128_x8_snr30,cave128_x8_d5100,cave128_x8_shift1,hs128,"
        "jelly_beans_d5100_blind,jelly_beans_cie1931_blind",
    )
    parser.add_argument("--guide-holdout", default="cave128_x8,cave128_x8_snr30,hs128")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "hs-alternatives-cpu.json")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from provenance import commit
    from two_fits import case_loader

    report: dict[str, Any] = {"commit": commit(), "torch": torch.__version__, "seed": 0}
    report.update(choices={}, guide_holdout={})
    data = args.data.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        bench = case_loader(data, Path(tmp))

        def case(name: str) -> tuple[Any, torch.Tensor]:
            return _blind_pair(data, name, Path(tmp)) if name.endswith("_blind") else bench(name)

        def save() -> None:
            args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")

        for name in [c for c in args.cases.split(",") if c]:
            row = report["choices"][name] = choices(*case(name))
            print(f"{name}: chose {row['chosen']}; going on {row['going_on']['psnr']:.2f} dB, "
                  f"back-projection {row['back_projection']['psnr']:.2f} dB", flush=True)  # fmt: skip
            save()
        for name in [c for c in args.guide_holdout.split(",") if c]:
            problem, reference = case(name)
            row = report["guide_holdout"][name] = guide_holdout(_checked(problem), reference)
            print(f"{name}: held-out guide pixels chose {row['chosen']}", flush=True)
            save()
    print("\n".join(table(report)))
    print("\n".join(guide_table(report)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
