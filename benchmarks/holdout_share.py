"""What holding pixels out costs a pansharpening fit: the default at two shares of held-out MS pixels.

    python benchmarks/holdout_share.py [--data ../shared/data] [--cases pan_im4,landsat7_rr,pan256]
        [--shares 0.1,0.05] [--out benchmarks/results/holdout-share-cpu.json]

Every choice the default makes without a reference is made on a seeded share of the MS pixels
left out of the loss (10 %, ``gdd.problems.presets.HOLDOUT``); the chosen fit then goes on with
every pixel. The held-out pixels are data the fit does not use until then, and the standard
error of a choice falls only with the square root of their number. This runs ``gdd pan``'s
default (the CPU preset, seed 0) on each pair at each share and records, against the reference
(never seen by the fit): PSNR and SAM, the wall time on this machine, the steps of the held-out
fit and of its continuation, the number of held-out pixels, and each choice with how far it was
ahead of its runner-up in standard errors. Pairs (as in ``pan_models.py``):

- ``pan_im4``: the authors' demo (MS 64 x 64 x 4, PAN 256 x 256), its MS made by bicubic reduction;
- ``landsat7_rr``: the bench's Landsat-7 case by Wald's protocol (``gdd simulate``, MTF, ratio 2);
- ``pan256``: the CAVE jelly beans case of ``speed.py`` (8 bands, MTF x4).

The HS presets are left out: their 16 x 16 low-resolution images leave 26 pixels at 10 %.
Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent


def _ahead(record: dict[str, Any] | None) -> str:
    """``chosen (z)`` of a recorded choice."""
    if not record:
        return ""
    chosen = record.get("chosen") or record.get("init")
    z = record.get("separation")
    return f"{chosen} ({z:.2f})" if isinstance(z, float) else str(chosen)


def measure(problem: Any, reference: torch.Tensor, share: float) -> dict[str, Any]:
    from gdd.metrics import psnr, sam
    from gdd.problems import solve

    start = time.perf_counter()
    result = solve(problem, device="cpu", seed=0, holdout=share)
    seconds = time.perf_counter() - start
    x = result.x.detach().float().cpu().clamp(0, 1)
    choice = {k: v for k, v in result.choice.items() if k != "starts"}
    return {
        "psnr": psnr(x, reference),
        "sam": sam(x, reference),
        "seconds": seconds,
        "steps": result.steps,
        "refit_steps": choice.get("refit_steps"),
        "held_out_pixels": result.details.get("holdout", {}).get("pixels"),
        "model": result.details.get("model_choice"),
        "start": result.details.get("start_rule"),
        "final": choice,
    }


def table(out: dict[str, Any], shares: list[float]) -> list[str]:
    """The docs' table: one row per pair and share."""
    lines = [
        "| pair | held out | pixels | PSNR / SAM | seconds | steps (+ continued) "
        "| MS degradation (z) | start (z) | returned (z) |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, rows in out.items():
        if not isinstance(rows, dict):
            continue
        for share in shares:
            r = rows.get(str(share))
            if r is None:
                continue
            cells = [
                f"`{name}`",
                f"{share:.0%}",
                str(r["held_out_pixels"]),
                f"{r['psnr']:.2f} / {r['sam']:.2f}",
                f"{r['seconds']:.0f}",
                f"{r['steps']} (+ {r['refit_steps']})",
                _ahead(r["model"]),
                _ahead(r["start"]),
                _ahead(r["final"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    sys.path.insert(0, str(HERE))
    import pan_models

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--cases", default="pan_im4,landsat7_rr,pan256")
    parser.add_argument("--shares", default="0.1,0.05")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "holdout-share-cpu.json")
    args = parser.parse_args()
    shares = [float(s) for s in args.shares.split(",")]
    from provenance import commit

    out: dict[str, Any] = {
        "commit": commit(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seed": 0,
    }
    with tempfile.TemporaryDirectory() as tmp:
        pairs = pan_models.pairs(args.data.resolve(), args.cases.split(","), Path(tmp))
        for name, (problem, reference) in pairs.items():
            out[name] = {}
            for share in shares:
                row = measure(problem, reference, share)
                out[name][str(share)] = row
                print(f"  {name} {share:.0%}: {row['psnr']:.2f} dB, {row['seconds']:.0f} s", flush=True)
                args.out.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print("\n".join(table(out, shares)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
