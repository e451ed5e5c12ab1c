"""Which candidates of an HS run fit the guide closer than its noise: what the held-out pixels cannot see.

    python benchmarks/noise_fit.py [--data ../shared/data] [--cases cave128_x8,cave128_x8_snr30]
        [--out benchmarks/results/noise-fit-cpu.json]

``gdd hs``'s default chooses among its candidates (the fit from GSA-HS, the network-alone fit,
their mean, GSA-HS) by their error on held-out low-resolution pixels. A candidate that copies
the guide's noise into its high-resolution detail is not seen there: the degradation that makes
the low-resolution pixels averages that detail away. This runs the default (CPU preset, seed 0)
on the bench's clean and noisy CAVE cases and gives, for each candidate as fitted and for the
result, its PSNR against the reference and its mean squared residual on the guide divided by the
guide's noise variance as estimated from the guide alone, two ways:

- ``mad``: the median absolute diagonal Haar detail over 0.6745, squared (Donoho and Johnstone,
  1994), per band, averaged over the bands;
- ``pca``: the eigenvalues of the covariance of 6 x 6 patches, the mean of the smallest ones
  where it first falls to their median (Chen, Zhu and Heng, ICCV 2015), per band, averaged.

A ratio well below 1 on a noisy pair says a candidate reproduces the guide's noise (the
discrepancy principle, Morozov 1966). The case's true noise variance is given beside them. A
measurement; nothing here is used by ``gdd``. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
#: The candidates recorded, by the name the run's observer gives them.
CANDIDATES = {
    "start 1: classic": "GSA-HS (held-out pixels filled)",
    "start 1: final": "fit from GSA-HS",
    "start 2: final": "network-alone fit",
    "mean of the starts, as fitted": "their mean",
}


def noise_mad(image: torch.Tensor) -> float:
    """Donoho's estimate of the noise variance of a (1, C, H, W) image, averaged over its bands."""
    x = image[0].double()
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[:, :h, :w]
    hh = (x[:, 0::2, 0::2] - x[:, 0::2, 1::2] - x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) / 2
    sigma = hh.abs().flatten(1).median(dim=1).values / 0.6745
    return float(sigma.square().mean())


def noise_pca(image: torch.Tensor, patch: int = 6) -> float:
    """Chen, Zhu and Heng's estimate of the noise variance of a (1, C, H, W) image, averaged over its bands."""
    out = []
    for band in image[0].double().numpy():
        p = np.lib.stride_tricks.sliding_window_view(band, (patch, patch)).reshape(-1, patch * patch)
        p = p - p.mean(axis=0)
        lam = np.sort(np.linalg.eigvalsh(p.T @ p / len(p)))[::-1]
        est = float(lam[-1])
        for i in range(len(lam)):
            if np.mean(lam[i:]) <= np.median(lam[i:]):
                est = float(np.mean(lam[i:]))
                break
        out.append(est)
    return float(np.mean(out))


def measure(case: Any) -> dict[str, Any]:
    from gdd.bench import _problem, _psnr
    from gdd.problems import solve

    problem = _problem(case)
    seen: dict[str, torch.Tensor] = {}

    def observe(name: str, x: torch.Tensor) -> None:
        if name in CANDIDATES:
            seen[name] = x.detach().float().cpu().clone()

    result = solve(problem, device="cpu", seed=0, observe=observe)
    seen["result"] = result.x.detach().float().cpu()
    # The guide's data term: its mean squared residual, of the reference (the true noise) or of a candidate.
    guide = next(t for t in problem.make_terms() if t.name == "guide")
    with torch.no_grad():
        row: dict[str, Any] = {
            "noise": {
                "true": float(guide(case.reference.float())),
                "mad": noise_mad(guide.target),
                "pca": noise_pca(guide.target),
            },
            "chosen": result.choice.get("chosen"),
            "candidates": {
                CANDIDATES.get(name, name): {"psnr": _psnr(case, x, case.reference), "guide_residual": float(guide(x))}
                for name, x in seen.items()
            },
        }
    return row


def table(out: dict[str, Any]) -> list[str]:
    """The docs' table: each candidate's PSNR and guide residual over each noise estimate."""
    lines = [
        "| case | candidate | PSNR (dB) | guide residual | / noise (mad) | / noise (pca) | / true noise |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in out.items():
        if not isinstance(row, dict):
            continue
        noise = row["noise"]
        for label, c in row["candidates"].items():
            r = c["guide_residual"]
            ratios = [f"{r / noise[k]:.3g}" if noise[k] > 0 else "inf" for k in ("mad", "pca", "true")]
            lines.append(f"| `{name}` | {label} | {c['psnr']:.2f} | {r:.3g} | " + " | ".join(ratios) + " |")
    return lines


def main() -> None:
    sys.path.insert(0, str(HERE))
    import bench_cases

    from gdd.bench import load_case

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--cases", default="cave128_x8,cave128_x8_snr30")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "noise-fit-cpu.json")
    args = parser.parse_args()
    from provenance import commit

    out: dict[str, Any] = {"commit": commit(), "torch": torch.__version__, "seed": 0}
    with tempfile.TemporaryDirectory() as tmp:
        work = bench_cases._Work(args.data.resolve(), Path(tmp), [])
        for name in args.cases.split(","):
            case = load_case(bench_cases.CASES[name].build(work, name))
            out[name] = measure(case)
            noise = out[name]["noise"]
            print(
                f"  {name}: noise true {noise['true']:.3g}, mad {noise['mad']:.3g}, pca {noise['pca']:.3g}", flush=True
            )
            args.out.write_text(json.dumps(out, indent=1) + "\n")
    print("\n".join(table(out)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
