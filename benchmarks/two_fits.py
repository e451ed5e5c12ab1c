"""The HS default's two fits: could the second be stopped early, or should it get the first's unused steps?

    python benchmarks/two_fits.py [--data ../shared/data]
        [--cases cave128_x8,cave128_x8_snr30,cave128_x8_d5100,cave128_x8_shift1,hs128]
        [--more cave128_x8_snr30] [--out benchmarks/results/two-fits-cpu.json]

``gdd hs`` fits the network from GSA-HS (start 1) and alone (start 2), then held-out pixels
choose among the two fits, their mean and GSA-HS, and the fits chosen go on with every pixel.

- **Stopping the second fit early** (every case of ``--cases``; the bench's cases, built as
  ``bench_cases.py`` builds them, and ``hs128``, the unseen scene of ``speed.py``): the default
  run, with each scored iterate of start 2 recorded. For each, the held-out error of start 1 as
  fitted, of the iterate and of the mean of the two, and how many standard errors start 1 is
  ahead of the iterate and of the mean (the paired comparison the run reports,
  :func:`gdd.fusion.objective.separation`): what a rule that stops start 2 once start 1 is far
  enough ahead (successive halving) would see at that step. PSNR against the reference beside,
  and start 1's after going on with every pixel (what such a rule would have returned).
- **More steps for the second fit** (each case of ``--more``): start 2's cap raised by the steps
  start 1 left unused when its held-out error stopped improving, so that the two fits together
  run no more than two caps; the fits chosen go on with every pixel for at most the preset's
  cap, as in the default. This patches the private loop of :mod:`gdd.problems.solve`; everything
  else is the default's.

CPU preset, seed 0. Never run by pytest; JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent


def _psnr(x: torch.Tensor, reference: torch.Tensor) -> float:
    from gdd.metrics import psnr

    return float(psnr(x.float().clamp(0, 1), reference))


def stopping(problem: Any, reference: torch.Tensor) -> dict[str, Any]:
    """The default run, and at each scored step of start 2 what start 1 as fitted is ahead of."""
    from gdd.fusion.objective import pixel_errors, separation
    from gdd.problems import solve
    from gdd.problems.holdout import held_out
    from gdd.problems.solve import checked_problem

    fitted = checked_problem(problem)[0] if problem.check is not None else problem
    seen: dict[str, torch.Tensor] = {}
    went_on: list[float] = []  # start 1's PSNR after going on with every pixel

    def observe(name: str, x: torch.Tensor) -> None:
        if name.startswith(("start 1: step ", "start 2: step ")) or name in ("start 1: final", "start 2: final"):
            seen[name] = x.detach().float().cpu().clone()
        elif name == "start 1: refit: result":
            went_on.append(_psnr(x, reference))

    start = time.perf_counter()
    # Iterates at every scoring (log_every only sets how often they are seen with held-out pixels).
    result = solve(fitted, device="cpu", seed=0, observe=observe, log_every=25)
    seconds = time.perf_counter() - start
    details: Any = result.details
    choice: Any = result.choice
    _, validation = held_out(fitted, details["holdout"]["share"], seed=0)  # the run's held-out pixels
    first = choice["starts"][0]
    s1 = seen[f"start 1: step {first['best_step']}" if first["chosen"] == "best" else "start 1: final"]
    steps = sorted(int(n.rsplit(" ", 1)[1]) for n in seen if n.startswith("start 2: step "))
    rows = []
    for step in steps:
        x2 = seen[f"start 2: step {step}"]
        mean = (s1 + x2) / 2
        errors = {
            k: float(pixel_errors(x, validation).mean()) for k, x in (("start 1", s1), ("start 2", x2), ("mean", mean))
        }
        rows.append({
            "step": step, "held_out": errors,
            "ahead_of_start_2": separation(s1, x2, validation), "ahead_of_mean": separation(s1, mean, validation),
            "psnr": {"start 2": _psnr(x2, reference), "mean": _psnr(mean, reference)},
        })  # fmt: skip
    return {
        "seconds": seconds,
        "chosen": result.choice["chosen"],
        "separation": result.choice.get("separation"),
        "psnr": _psnr(result.x, reference),
        "psnr_start_1": _psnr(s1, reference),
        "psnr_start_1_went_on": went_on[0] if went_on else None,
        "start_1_steps": result.steps,
        "steps": rows,
    }


def more_steps(problem: Any, reference: torch.Tensor) -> dict[str, Any]:
    """The default run with start 2's cap raised by the steps start 1 left unused, and the best candidate seen."""
    solve_module: Any = importlib.import_module("gdd.problems.solve")
    original = solve_module._fit_starts

    def fit_starts(problem: Any, kwargs: Any, overrides: Any, callback: Any, observe: Any) -> Any:
        plans = solve_module._plan_starts(problem, kwargs, overrides)
        results: list[Any] = []
        for k, plan in enumerate(plans):
            config = plan.config
            if k == 1:
                unused = config.iterations - results[0].steps
                config = replace(config, iterations=config.iterations + max(0, unused))
            shifted = solve_module._shifted(callback, k * plan.config.iterations)
            named = solve_module._named(observe, f"start {k + 1}: ")
            fit = solve_module.fit(
                plan.model, plan.terms, problem.guide, config, callback=shifted,
                base=plan.base, classic=plan.classic, validation=plan.validation, observe=named,
            )  # fmt: skip
            results.append(solve_module._finish(fit, problem, plan))  # plan.config: the refit's cap stays the preset's
            run.append({"cap": config.iterations, "steps": fit.steps})
        return results, plans

    seen: dict[str, float] = {}
    run: list[dict[str, int]] = []  # each start's cap and the steps it ran
    solve_module._fit_starts = fit_starts
    try:
        start = time.perf_counter()
        result = solve_module.solve(
            problem, device="cpu", seed=0, observe=lambda n, x: seen.__setitem__(n, _psnr(x, reference))
        )
        seconds = time.perf_counter() - start
    finally:
        solve_module._fit_starts = original
    best = max(seen, key=lambda n: seen[n])
    starts: Any = result.choice["starts"]
    return {
        "seconds": seconds,
        "chosen": result.choice["chosen"],
        "held_out": {k: v for k, v in result.choice.items() if k in ("start 1", "start 2", "mean", "classic")},
        "separation": result.choice.get("separation"),
        "psnr": _psnr(result.x, reference),
        "starts": run,
        "refit_steps": [s.get("refit_steps") for s in starts],
        "best_seen": {"name": best, "psnr": seen[best]},
    }


STEPS = (50, 150, 300, 450, 600)


def table(report: dict[str, Any]) -> list[str]:
    """The docs' table: how far start 1 as fitted is ahead of the mean with start 2 at some of its steps."""
    lines = [
        "| case | chosen (PSNR, dB) | " + " | ".join(f"step {s}" for s in STEPS) + " |",
        "|---|---|" + "---:|" * len(STEPS),
    ]
    for name, row in report["stopping"].items():
        by_step = {r["step"]: r for r in row["steps"]}
        cells = [f"{by_step[s]['ahead_of_mean']:.1f}" if s in by_step else "-" for s in STEPS]
        lines.append(f"| `{name}` | {row['chosen']} ({row['psnr']:.2f}) | " + " | ".join(cells) + " |")
    return lines


def case_loader(data: Path, tmp: Path) -> Callable[[str], tuple[Any, torch.Tensor]]:
    """The problem and reference of a bench case (built once, under ``tmp``) or of ``speed.py``'s ``hs128``."""
    import bench_cases
    from speed import end_to_end_problems

    from gdd.bench import _problem, load_case

    work = bench_cases._Work(data, tmp, [])
    built: dict[str, Path] = {}

    def case(name: str) -> tuple[Any, torch.Tensor]:
        if name == "hs128":
            problem, reference, _ = end_to_end_problems(data, False)["hs128"]
            return problem, reference
        if name not in built:
            built[name] = bench_cases.CASES[name].build(work, name)
        loaded = load_case(built[name])
        assert loaded.reference is not None
        reference = loaded.reference if loaded.reference.ndim == 4 else loaded.reference[None]
        return _problem(loaded), reference

    return case


def main() -> None:
    sys.path.insert(0, str(HERE))
    from provenance import commit

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--cases", default="cave128_x8,cave128_x8_snr30,cave128_x8_d5100,cave128_x8_shift1,hs128")
    parser.add_argument("--more", default="cave128_x8_snr30")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "two-fits-cpu.json")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "commit": commit(),
        "torch": torch.__version__,
        "seed": 0,
        "stopping": {},
        "more_steps": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        case = case_loader(args.data.resolve(), Path(tmp))
        for name in [c for c in args.cases.split(",") if c]:
            row = report["stopping"][name] = stopping(*case(name))
            print(f"{name}: {row['chosen']} chosen, {row['psnr']:.2f} dB; start 1 ahead of (in standard errors)")
            for r in row["steps"]:
                print(f"  step {r['step']:4d}: start 2 {r['ahead_of_start_2']:5.1f}, mean {r['ahead_of_mean']:5.1f}")
            args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
        for name in [c for c in args.more.split(",") if c]:
            row = report["more_steps"][name] = more_steps(*case(name))
            print(f"{name}, start 2 given start 1's unused steps: {row['chosen']} chosen, {row['psnr']:.2f} dB")
    args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
