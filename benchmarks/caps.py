"""What the default returns with fewer steps, on the bench's cases: quality against time.

    python benchmarks/caps.py [--data ../shared/data]
        [--cases cave128_x8,cave128_x8_snr30,cave128_x8_d5100,cave128_x8_shift1,landsat7_rr,pan_im4,cave_pan_outside]
        [--caps 100,200] [--warm-start N] [--out benchmarks/results/caps-cpu.json]

``--iterations`` caps each fit of the default (and the chosen one going on with every pixel).
Each case, built as ``bench_cases.py`` builds it, is fitted by the bench's GDD default row
(:func:`gdd.bench._run_method`, seed 0, the CPU preset) at the preset's cap and then at each of
``--caps``, one right after the other, so that the times of a case compare. For each run: the
run's wall time (the bench's seconds), steps, what held-out pixels chose, PSNR and SAM against
the reference, and the classic start's PSNR (the bench's "moved" is the run's PSNR minus it).
What a user gives up for a shorter run, and where the network's gain over its classic start
arrives. ``--warm-start N`` gives the capped runs (not the preset's) a warm start of N steps
instead of the preset's (pansharpening: 100, at most a fifth of the steps unless named:
``gdd.problems.warm_steps``). Never run by pytest;
JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
CASES = "cave128_x8,cave128_x8_snr30,cave128_x8_d5100,cave128_x8_shift1,landsat7_rr,pan_im4,cave_pan_outside"


def run(case: Any, iterations: int | None, warm_start: int | None = None) -> dict[str, Any]:
    """The bench's GDD default row at ``iterations`` (None: the preset's): time, quality, choice, start."""
    from gdd.bench import _run_method
    from gdd.metrics import psnr, sam

    x, info = _run_method(case, "gdd", device="cpu", seed=0, iterations=iterations, warm_start=warm_start)
    seconds = info["fit_seconds"]  # the bench's time of the row: the run, not the judging after it
    x = x.float().clamp(0, 1)
    reference = case.reference if case.reference.ndim == 4 else case.reference[None]
    return {
        "iterations": info["iterations"],
        "steps": info["steps_run"],
        "seconds": seconds,
        "psnr": float(psnr(x, reference)),
        "sam": float(sam(x, reference)),
        "chosen": info.get("choice", {}).get("chosen"),
        "start": info.get("start"),
        "oracle": info.get("oracle"),
    }


def table(report: dict[str, Any]) -> list[str]:
    """The docs' table: per case, the classic start, then each run's PSNR / SAM, what was chosen and its time ratio."""
    caps = report["caps"]
    lines = [
        "| case | classic start (PSNR) | default: PSNR / SAM, chosen, time | "
        + " | ".join(f"`--iterations {c}`: PSNR / SAM, chosen, time (ratio)" for c in caps)
        + " |",
        "|---|---:|---|" + "---|" * len(caps),
    ]
    for name, row in report["cases"].items():
        default = row["default"]
        start = default["start"]
        cells = [f"{default['psnr']:.2f} / {default['sam']:.2f}, {default['chosen']}, {default['seconds']:.0f} s"]
        for c in caps:
            r = row[f"cap {c}"]
            ratio = r["seconds"] / default["seconds"]
            cells.append(f"{r['psnr']:.2f} / {r['sam']:.2f}, {r['chosen']}, {r['seconds']:.0f} s ({ratio:.2f})")
        lines.append(f"| {name} | {start['name']}: {start['psnr']:.2f} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--cases", default=CASES)
    parser.add_argument("--caps", default="100,200", help="the --iterations to run besides the preset's")
    parser.add_argument(
        "--warm-start",
        type=int,
        help="the capped runs' warm start instead of the preset's (pansharpening: a fifth of the steps, at most 100)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "caps-cpu.json")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import bench_cases
    from provenance import commit

    from gdd.bench import load_case

    caps = [int(c) for c in args.caps.split(",") if c]
    report: dict[str, Any] = {
        "commit": commit(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seed": 0,
        "caps": caps,
        "warm_start": args.warm_start,
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = bench_cases._Work(args.data.resolve(), Path(tmp), [])
        for name in args.cases.split(","):
            case = load_case(bench_cases.CASES[name].build(work, name))
            row: dict[str, Any] = {"task": case.task}
            for label, iterations in [("default", None), *((f"cap {c}", c) for c in caps)]:
                row[label] = run(case, iterations, None if iterations is None else args.warm_start)
                r = row[label]
                print(
                    f"{name} {label}: {r['seconds']:.1f} s, {r['steps']} steps, PSNR {r['psnr']:.2f}, "
                    f"SAM {r['sam']:.2f}, chosen {r['chosen']}",
                    flush=True,
                )
            report["cases"][name] = row
            args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print("\n".join(table(report)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
