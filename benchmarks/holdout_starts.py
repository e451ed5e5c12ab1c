"""What the held-out error sees of two HS starts: GSA-HS as a residual (the default) and the network alone.

    python benchmarks/holdout_starts.py [--data ../shared/data] [--cases cave128_x8_snr30,cave128_x8]

For each bench case (built as ``bench_cases.py`` builds it), the default CPU fit is run from
each start with held-out validation (10 % of the low-resolution pixels, seed 0); for the fit's
final estimate (before the chosen one is refitted on every pixel), the classic image computed
without the held-out pixels, and the mean of the two fits, it prints the held-out error and the
PSNR against the reference. The question it answers: does the held-out error rank the
candidates as the reference does? Never run by pytest; JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def measure(folder: Path) -> dict[str, Any]:
    from gdd.bench import _problem, load_case
    from gdd.metrics import psnr
    from gdd.problems import solve
    from gdd.problems.holdout import held_out, holdout_error

    case = load_case(folder)
    problem = _problem(case)
    gt = case.reference if case.reference.ndim == 4 else case.reference[None]
    _, validation = held_out(problem, 0.1, seed=0)
    rows: dict[str, Any] = {}
    finals = {}
    for init in ("gsa", "none"):
        seen: dict[str, Any] = {}
        result = solve(
            problem, device="cpu", seed=0, init=init, observe=lambda n, x, s=seen: s.__setitem__(n, x.detach().cpu())
        )
        finals[init] = seen["final"].float()
        rows[f"fit from {init}"] = {
            "held_out": holdout_error(finals[init], validation),
            "psnr": psnr(finals[init].clamp(0, 1), gt),
            "returned_psnr": psnr(result.x.clamp(0, 1), gt),
            "chosen": result.choice.get("chosen"),
        }
        if "classic" in seen:
            rows["classic"] = {"held_out": holdout_error(seen["classic"].float(), validation),
                               "psnr": psnr(seen["classic"].float().clamp(0, 1), gt)}  # fmt: skip
    mean = (finals["gsa"] + finals["none"]) / 2
    rows["mean of the fits"] = {"held_out": holdout_error(mean, validation), "psnr": psnr(mean.clamp(0, 1), gt)}
    return rows


def main() -> None:
    import bench_cases

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--cases", default="cave128_x8_snr30,cave128_x8")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "holdout-starts-cpu.json")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = bench_cases._Work(args.data.resolve(), Path(tmp), [])
        for name in [c for c in args.cases.split(",") if c]:
            report[name] = measure(bench_cases.CASES[name].build(work, name))
            print(f"{name}: held-out error / PSNR (dB) of the estimate before the refit")
            for label, row in report[name].items():
                print(f"  {label:<18} {row['held_out']:.3e}  {row['psnr']:6.2f}")
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
