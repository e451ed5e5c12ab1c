"""What the held-out stop costs the default on ``pan_im4``: its held-out fit run without the stop.

    python benchmarks/pan_no_stop.py [--data ../shared/data] [--iterations 2000]
        [--out benchmarks/results/pan-no-stop-cpu.json]

``gdd pan``'s default (the CPU preset, seed 0) on the authors' demo stops when its held-out
error has not improved for ``patience`` scorings. This runs the same fit with ``patience=0``
(every step up to ``--iterations``) and without the chosen fit going on with every pixel, so
that what is recorded is the held-out fit alone: its held-out error at every scoring (every 25
steps, from the first scoring) and the PSNR of its estimate at every 25-step log against the
reference, which only measures. The run with the stop is ``speed.py``'s ``to_quality`` case.
The question it answers is whether the stop ends the fit before it would have got much better.
Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from provenance import HERE, commit, machine


def run(data: Path, iterations: int) -> dict[str, Any]:
    """The default's held-out fit on pan_im4 without the stop: held-out error and PSNR per scoring."""
    from speed import _pan_im4

    from gdd import solve
    from gdd.metrics import psnr
    from gdd.problems import pan_problem

    loaded = _pan_im4(data, False)
    if loaded is None:
        raise SystemExit(f"pan_no_stop: {data / 'gdd_demo' / 'pan_im4.mat'} not found")
    ms, pan, gt = loaded
    curve: dict[int, float] = {}

    def callback(step: int, x: torch.Tensor, loss: float) -> None:
        curve[step] = psnr(x.detach().float().cpu().clamp(0, 1), gt)

    start = time.perf_counter()
    result = solve(
        pan_problem(ms, pan, 4),
        device="cpu",
        seed=0,
        iterations=iterations,
        log_every=25,
        callback=callback,
        patience=0,
        refit=False,
    )
    seconds = time.perf_counter() - start
    held = [(int(step), float(error)) for step, error in result.validation]
    best_step, best_error = min(held, key=lambda entry: entry[1])
    top_step = max(curve, key=lambda step: curve[step])
    return {
        "iterations": iterations,
        "seconds": seconds,
        "steps": result.steps,
        "choice": result.choice,
        "returned_psnr": psnr(result.x.detach().float().cpu().clamp(0, 1), gt),
        "lowest_held_out": {"step": best_step, "error": best_error, "psnr": curve.get(best_step)},
        "highest_psnr": {"step": top_step, "psnr": curve[top_step]},
        "held_out": held,
        "psnr": sorted(curve.items()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "pan-no-stop-cpu.json")
    args = parser.parse_args(argv)
    record = {
        "benchmark": "pan_no_stop",
        "commit": commit(),
        "hardware": machine("cpu"),
        **run(args.data, args.iterations),
    }
    low, top = record["lowest_held_out"], record["highest_psnr"]
    print(
        f"lowest held-out error at step {low['step']} ({low['psnr']:.2f} dB); "
        f"best PSNR {top['psnr']:.2f} dB at step {top['step']}"
    )
    args.out.write_text(json.dumps(record, indent=1, default=str) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
