"""The two-start HS default on noisy pairs from scenes the bench does not use.

    python benchmarks/unseen_noisy.py [--data ../shared/data] [--scenes feathers,jelly_beans]
        [--out benchmarks/results/unseen-noisy-cpu.json]

The HS default's second start (the network alone) was added after looking at the bench's noisy
CAVE balloons case, so that case cannot tell whether it helps in general. This builds the same
kind of pair from other CAVE scenes (rows/cols 192:320 of each, 128 x 128 x 31; block average by
8; RGB by the Nikon D700 response; white Gaussian noise at 30 dB SNR per band on both inputs, as
``gdd simulate --snr-db 30``, seed 0) and fits it on the CPU with seed 0: the default (two
starts, held-out choice), the previous default (``init="gsa"``: GSA-HS as a residual alone), the
network alone as ``--init none --no-keep-best`` fits it (its final estimate, then going on with
every pixel) and GSA-HS itself; PSNR and SAM against the clean cube. JSON after each scene;
``table`` makes the docs' table of it. Never run by pytest.
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


#: ``--init none --no-keep-best``: the network alone, its final estimate (then going on with every pixel).
NETWORK_ALONE = (("network_alone", {"init": "none", "keep_best": False}),)


def table(report: dict[str, Any]) -> list[str]:
    """The docs' table: PSNR (dB) / SAM (degrees) of each variant per scene."""
    lines = [
        "| scene | GSA-HS | GSA-HS start alone (the previous default) | default (what it chose) "
        "| network alone (`--init none --no-keep-best`) |",
        "|---|---:|---:|---:|---:|",
    ]
    for scene, row in report.items():
        if not isinstance(row, dict):
            continue
        cells = [f"{row[k]['psnr']:.2f} / {row[k]['sam']:.2f}" for k in ("gsa_hs", "gsa_start_alone", "default")]
        cells[2] += f" (the {row['default']['chosen']})"
        alone = row["network_alone"]
        cells.append(f"{alone['psnr']:.2f} / {alone['sam']:.2f}")
        lines.append(f"| {scene.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return lines


def measure(data: Path, scene: str) -> dict[str, Any]:
    from noise_rules import pair

    from gdd.metrics import psnr, sam
    from gdd.problems import solve
    from gdd.problems.classic import tame

    problem, cube = pair(data, scene, 30.0, slice(192, 320))
    row: dict[str, Any] = {}

    def score(x: torch.Tensor) -> dict[str, float]:
        x = x.detach().float().cpu().clamp(0, 1)
        return {"psnr": psnr(x, cube), "sam": sam(x, cube)}

    row["gsa_hs"] = score(tame(problem.classic("gsa").float(), problem.baseline()))  # type: ignore[misc]
    variants = (("default", {}), ("gsa_start_alone", {"init": "gsa"}), *NETWORK_ALONE)
    for name, settings in variants:
        start = time.perf_counter()
        result = solve(problem, device="cpu", seed=0, **settings)  # type: ignore[arg-type]
        row[name] = {**score(result.x), "seconds": time.perf_counter() - start, "chosen": result.choice.get("chosen")}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--scenes", default="feathers,jelly_beans")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "unseen-noisy-cpu.json")
    args = parser.parse_args()
    from provenance import commit

    report: dict[str, Any] = {"commit": commit(), "torch": torch.__version__}
    for scene in [s for s in args.scenes.split(",") if s]:
        report[scene] = row = measure(args.data, scene)
        print(
            f"{scene}: GSA-HS {row['gsa_hs']['psnr']:.2f} dB / {row['gsa_hs']['sam']:.2f}; "
            f"GSA-HS start alone {row['gsa_start_alone']['psnr']:.2f} / {row['gsa_start_alone']['sam']:.2f}; "
            f"default {row['default']['psnr']:.2f} / {row['default']['sam']:.2f} (chose {row['default']['chosen']})",
            flush=True,
        )
        args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
