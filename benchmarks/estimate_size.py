"""What estimating the response and the blur together costs, by the pixels it reads.

    python benchmarks/estimate_size.py [--out benchmarks/results/estimate-size-cpu.json]

A synthetic pair the size of a crop of a hyperspectral + multispectral pair from two sensors:
200 HS bands, an 8-band guide through a random response, the block average at factor 3, low
resolution 128 x 128 and 256 x 256. ``gdd.estimate.estimate_degradation`` runs on it with its
default window (the central ``ESTIMATE_WINDOW`` pixels a side) and, on the smaller pair, with
``window=None`` (every pixel), each in a fresh process so that its peak memory is its own;
wall time and the process's peak resident memory (the synthetic pair included) are recorded, with the size of the
least-squares matrix of the pixels read. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from provenance import HERE, commit, machine

BANDS, GUIDE, FACTOR = 200, 8, 3


def _one(n: int, window: int | None) -> dict[str, object]:
    """One estimate in this process: seconds, peak memory and the pair's residual."""
    from gdd.estimate import estimate_degradation

    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, BANDS, n * FACTOR // 8, n * FACTOR // 8, generator=g)
    x = torch.nn.functional.interpolate(coarse, size=(n * FACTOR, n * FACTOR), mode="bilinear")
    r = torch.rand(GUIDE, BANDS, generator=g)
    r /= r.sum(1, keepdim=True)
    y, guide = torch.nn.functional.avg_pool2d(x, FACTOR), torch.einsum("kc,bchw->bkhw", r, x)
    del x, coarse
    start = time.perf_counter()
    d = estimate_degradation(y, guide, FACTOR, window=window)
    seconds = time.perf_counter() - start
    # The whole process's peak, the synthetic pair included: KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**30 if sys.platform == "darwin" else 2**20)
    return {"seconds": seconds, "peak_gib": peak, "residual": d.residual, "srf_error": float((d.srf - r).abs().max())}


def _matrix_gib(n: int) -> float:
    """The least-squares matrix of an n x n read: a row per guide band and interior pixel."""
    from gdd.estimate.lstsq import interior

    size = 3 * FACTOR
    rows = len(range(n)[interior(n, FACTOR, (size - FACTOR) // 2, size)])
    return GUIDE * rows**2 * (size * size + GUIDE * BANDS) * 8 / 2**30


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "estimate-size-cpu.json")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        n, window = int(args.one[0]), None if args.one[1] == "none" else int(args.one[1])
        print(json.dumps(_one(n, window)))
        return 0
    from gdd.estimate import ESTIMATE_WINDOW

    runs = [(128, "default"), (128, "none"), (256, "default")]
    out: dict[str, object] = {
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "seed": 0,
        "bands": BANDS,
        "guide_bands": GUIDE,
        "factor": FACTOR,
        "window": ESTIMATE_WINDOW,
        "matrix_gib": {str(n): _matrix_gib(n) for n in (ESTIMATE_WINDOW, 128, 256, 1024 // FACTOR)},
        "runs": {},
    }
    for n, window in runs:
        arg = str(ESTIMATE_WINDOW) if window == "default" else window
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(n), arg], capture_output=True, text=True, check=True
        )
        row = json.loads(done.stdout.strip().splitlines()[-1])
        out["runs"][f"{n} x {n}, window {window}"] = row  # type: ignore[index]
        print(f"{n} x {n}, window {window}: {row['seconds']:.1f} s, peak {row['peak_gib']:.2f} GiB", flush=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
