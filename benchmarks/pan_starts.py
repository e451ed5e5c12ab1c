"""What the start costs on ``pan_im4``: the default pansharpening fit against the same fit with no classic start.

    python benchmarks/pan_starts.py [--device cuda] [--data ../shared/data] [--variants default,none,two]
        [--iterations N] [--out benchmarks/results/pan-starts-DEVICE.json]

On the authors' pansharpening demo (``pan_im4.mat``: I_MS_input, I_PAN_input, I_MS_GT), each
variant is one ``gdd.problems.solve`` at the device's budget (the authors' 8001 steps on a GPU),
seed 0, with the PSNR against I_MS_GT of every logged estimate (a measurement in hindsight; the
fit never sees it):

- ``default``: the defaults (a classic start chosen by held-out pixels, held-out stop, refit);
- ``none``: the same with ``init="none"`` (the authors' start: the network alone), still with
  held-out validation, its stop and the refit;
- ``none_full``: ``init="none"`` without the held-out stop (``patience=0``): every step runs and
  the held-out error still chooses the step returned;
- ``two``: the default's start and the network alone fitted one after the other, the held-out
  pixels choosing among the two fits, their mean and the classic image (what the HS presets do,
  ``more_starts``).

For each: the returned PSNR and SAM, the wall time, the steps run and the step chosen, the best
PSNR along the run (and its step). The original code reaches 35.2 dB at 1,000 steps and 36.30 dB
at 8,001 on a GPU (its own loop). The JSON is written after each variant. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

VARIANTS: dict[str, dict[str, object]] = {
    "default": {},
    "none": {"init": "none"},
    "none_full": {"init": "none", "patience": 0},
    "two": {"more_starts": (("none", 0, False),)},
}


def run(variant: str, device: str, data: Path, iterations: int | None = None) -> dict[str, Any]:
    from speed import _pan_im4

    from gdd.metrics import psnr, sam
    from gdd.problems import pan_problem, solve

    loaded = _pan_im4(data, quick=False)
    if loaded is None:
        raise SystemExit(f"{data / 'gdd_demo' / 'pan_im4.mat'} not found")
    ms, pan, gt = loaded
    gt = gt.to(device)
    curve: list[tuple[int, float]] = []

    def callback(step: int, x: torch.Tensor, loss: float) -> None:
        curve.append((step, psnr(x.clamp(0, 1), gt)))

    start = time.perf_counter()
    settings = {**VARIANTS[variant], **({"iterations": iterations} if iterations else {})}
    result = solve(pan_problem(ms, pan, 4), device=device, seed=0, callback=callback, **settings)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    x = result.x.clamp(0, 1)
    best = max(curve, key=lambda c: c[1]) if curve else (None, None)
    holdout = result.details.get("holdout", {})
    return {
        "settings": VARIANTS[variant],
        "psnr": psnr(x, gt),
        "sam": sam(x, gt),
        "seconds": seconds,
        "steps_run": holdout.get("steps_run", result.steps) if isinstance(holdout, dict) else result.steps,
        "iterations": result.config.iterations,
        "choice": {k: v for k, v in result.choice.items() if k != "starts"},
        "starts": [dict(c) for c in result.choice.get("starts", [])],
        "start_rule": result.details.get("start_rule"),
        "spatial": result.details.get("spatial"),
        "best_logged_psnr": best[1],
        "best_logged_step": best[0],
        "curve": curve,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--variants", default="default,none,none_full")
    parser.add_argument("--iterations", type=int, help="a cap on the steps (default: the preset's)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or HERE / "results" / f"pan-starts-{args.device}.json"
    from provenance import commit

    report: dict[str, Any] = {"commit": commit(), "device": args.device, "torch": torch.__version__}
    if args.iterations:
        report["iterations"] = args.iterations
    if args.device.startswith("cuda") and torch.cuda.is_available():
        report["gpu"] = torch.cuda.get_device_name()
    for name in [v for v in args.variants.split(",") if v]:
        report[name] = run(name, args.device, args.data, args.iterations)
        row = report[name]
        print(
            f"{name}: {row['psnr']:.2f} dB, SAM {row['sam']:.2f}, {row['seconds']:.0f} s, "
            f"{row['steps_run']} of {row['iterations']} steps, chosen {row['choice'].get('chosen')}; "
            f"best logged {row['best_logged_psnr']:.2f} dB at step {row['best_logged_step']}",
            flush=True,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
