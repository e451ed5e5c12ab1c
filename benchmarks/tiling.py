"""A 2048 x 2048 PAN with an 8-band MS fused in tiles: seams, quality against one fit, memory.

The scene: the ground truth and PAN of the authors' ``pan_im4`` (WorldView, 184 x 216)
mirrored out to 2048 x 2048 (reduced-resolution protocol: the MS is the ground truth through
the authors' bicubic decimation, ratio 4, 512 x 512 x 8). Fused by ``gdd pan --tile 512
--overlap 64`` (25 tiles), each run a separate process whose peak resident memory is read back.

- Seams: the mean squared difference between neighbouring pixels across the lines where a tile
  ends inside the scene, against the same over every other line (rows and columns, all bands),
  for the result and, as the yardstick of the content, for the ground truth.
- Quality: the top-left 1024 x 1024 region fused in one fit (it fits here) and in tiles, PSNR
  against the ground truth, and the same region cut from the tiled 2048 x 2048 result.

    python benchmarks/tiling.py [--iterations 60 --warm-start 20 --width 16] [--work DIR]

writes ``benchmarks/results/tiling-cpu.md``; the scene, the results (about 300 MB) and
``runs.json`` stay in ``--work`` (``--no-run`` summarises the runs found there again).

The default budget is small (a check of the tiling, not of GDD's quality) so that the whole
script runs in about half an hour on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gdd_demo" / "pan_im4.mat"


def mirror(a: np.ndarray, size: int) -> np.ndarray:
    pad = [(0, size - a.shape[0]), (0, size - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, pad, mode="symmetric")


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(x, 0, 1) - ref) ** 2)))


PEAK = (
    "import atexit, resource, runpy, sys; "
    "atexit.register(lambda: sys.stderr.write(f'PEAK_KIB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')); "
    "sys.argv = ['gdd', *sys.argv[1:]]; runpy.run_module('gdd', run_name='__main__')"
)


def run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one gdd process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *argv, "--quiet"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"gdd failed: {done.stderr.strip().splitlines()[-1]}")
    peak = [ln for ln in done.stderr.splitlines() if ln.startswith("PEAK_KIB")][-1]
    print(done.stdout.strip())
    return wall, int(peak.split()[1]) / 1024


def seam_energy(x: np.ndarray, edges: list[int]) -> tuple[float, float]:
    """Mean squared step across the given row lines, and across every other row line."""
    d = np.diff(x.astype(np.float64), axis=0) ** 2  # d[i] = step between rows i and i + 1
    at = np.zeros(len(d), bool)
    for e in edges:
        at[e - 1] = True  # the step between the tile's last row and the next
    return float(d[at].mean()), float(d[~at].mean())


def null_ratios(x: np.ndarray, edges: list[int], col_edges: list[int], draws: int = 2000) -> np.ndarray:
    """The same ratio for as many lines drawn at random at least 8 pixels from any tile edge."""
    rows = (np.diff(x.astype(np.float64), axis=0) ** 2).mean(axis=(1, 2))
    cols = (np.diff(x.astype(np.float64), axis=1) ** 2).mean(axis=(0, 2))
    ok = np.ones(len(rows), bool)
    for e in {*edges, *col_edges}:
        ok[max(0, e - 9) : e + 8] = False
    candidates = np.flatnonzero(ok)
    rng = np.random.default_rng(0)
    out = []
    for _ in range(draws):
        r = rng.choice(candidates, len(edges), replace=False)
        c = rng.choice(candidates, len(col_edges), replace=False)
        keep_r, keep_c = np.ones(len(rows), bool), np.ones(len(cols), bool)
        keep_r[r], keep_c[c] = False, False
        at = np.r_[rows[r], cols[c]].mean()
        out.append(at / ((rows[keep_r].mean() + cols[keep_c].mean()) / 2))
    return np.array(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--warm-start", type=int, default=20)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--region", type=int, default=1024)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "gdd-tiling-bench")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tiling-cpu.md")
    ap.add_argument("--no-run", action="store_true", help="summarise the runs in --work again")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA.name} not found (the shared data folder sits beside the project)")
        return 0
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    import torch

    from gdd.app import estimate_memory
    from gdd.operators import imresize
    from gdd.tiles import tile_grid

    m = scipy.io.loadmat(DATA)
    gt = mirror(m["I_MS_GT"].astype(np.float32), args.size)
    pan = mirror(m["I_PAN_input"].astype(np.float32), args.size)
    ms = imresize(torch.from_numpy(gt.transpose(2, 0, 1))[None].double(), scale=0.25)[0].permute(1, 2, 0)
    ms = ms.float().numpy()
    r, lr = args.region, args.region // 4
    files = {
        "gt.npy": gt, "pan.npy": pan, "ms.npy": ms,
        "gt_region.npy": gt[:r, :r], "pan_region.npy": pan[:r, :r], "ms_region.npy": ms[:lr, :lr],
    }  # fmt: skip
    for name, a in files.items():
        np.save(work / name, np.ascontiguousarray(a))
    # SFIM as a residual, the start these figures were measured with (before --init auto).
    budget = ["--iterations", str(args.iterations), "--warm-start", str(args.warm_start), "--width", str(args.width),
              "--init", "sfim"]  # fmt: skip
    tiles = ["--tile", str(args.tile), "--overlap", str(args.overlap)]
    runs = json.loads((work / "runs.json").read_text()) if args.no_run else {}
    for name, ms_f, pan_f, extra in (
        ("region, one fit", "ms_region.npy", "pan_region.npy", ["--tile", "none"]),
        ("region, tiles", "ms_region.npy", "pan_region.npy", tiles),
        ("scene, tiles", "ms.npy", "pan.npy", tiles),
    ):
        out = work / (name.replace(", ", "_").replace(" ", "_") + ".npy")
        if not args.no_run:
            argv = ["pan", "--ms", str(work / ms_f), "--pan", str(work / pan_f), "--ratio", "4", "--out", str(out),
                    "--force", *budget, *extra]  # fmt: skip
            wall, peak = run(argv)
            runs[name] = {"wall_s": wall, "peak_mib": peak}
            print(name, f"{wall:.0f} s, {peak:.0f} MiB", flush=True)
            (work / "runs.json").write_text(json.dumps(runs, indent=1))
        runs[name]["out"] = out

    gt_region = gt[:r, :r]
    scene = np.load(runs["scene, tiles"]["out"])
    quality = {
        "region, one fit": psnr(np.load(runs["region, one fit"]["out"]), gt_region),
        "region, tiles": psnr(np.load(runs["region, tiles"]["out"]), gt_region),
        "region of the tiled scene": psnr(scene[:r, :r], gt_region),
        "scene, tiles": psnr(scene, gt),
    }
    grid = tile_grid(args.size, args.size, tile=args.tile, overlap=args.overlap, factor=4)
    edges = sorted({t.row + t.height for t in grid if t.row + t.height < args.size} | {t.row for t in grid if t.row})
    col_edges = sorted({t.col + t.width for t in grid if t.col + t.width < args.size} | {t.col for t in grid if t.col})
    seams = {}
    for label, img in (("result", scene), ("ground truth", gt), ("error (result - ground truth)", scene - gt)):
        a_rows, o_rows = seam_energy(img, edges)
        a_cols, o_cols = seam_energy(img.transpose(1, 0, 2), col_edges)
        seams[label] = ((a_rows + a_cols) / 2, (o_rows + o_cols) / 2)
    one_fit = estimate_memory("pan", args.size, args.size, budget="cpu", channels=args.width) / 2**20
    lines = [
        f"# Tiled fusion of a {args.size} x {args.size} PAN with an 8-band MS (CPU)",
        "",
        f"Command: `python benchmarks/tiling.py --iterations {args.iterations} --warm-start {args.warm_start} "
        f"--width {args.width}`; tiles {args.tile}, overlap {args.overlap} ({len(grid)} tiles on the scene).",
        "",
        "| run | PSNR (dB) | wall (s) | peak resident (MiB) |",
        "|---|---:|---:|---:|",
    ]
    for name in ("region, one fit", "region, tiles", "scene, tiles"):
        lines.append(f"| {name} | {quality[name]:.2f} | {runs[name]['wall_s']:.0f} | {runs[name]['peak_mib']:.0f} |")
    lines.append(f"| region of the tiled scene | {quality['region of the tiled scene']:.2f} | | |")
    diff = quality["region, tiles"] - quality["region, one fit"]
    diff_scene = quality["region of the tiled scene"] - quality["region, one fit"]
    lines += [
        "",
        f"Tiles against one fit on the {r} x {r} region: {diff:+.2f} dB (its own tiles), {diff_scene:+.2f} dB "
        "(cut from the tiled scene).",
        f"One fit of the whole scene would need about {one_fit:.0f} MiB by `gdd.app.estimate_memory`.",
        "",
        "| image | step across tile edges | step elsewhere | ratio |",
        "|---|---:|---:|---:|",
    ]
    for label, (at, other) in seams.items():
        lines.append(f"| {label} | {at:.3e} | {other:.3e} | {at / other:.3f} |")
    ratio = (seams["result"][0] / seams["result"][1]) / (seams["ground truth"][0] / seams["ground truth"][1])
    null = null_ratios(scene, edges, col_edges)
    observed = seams["result"][0] / seams["result"][1]
    lo, hi = np.percentile(null, [5, 95])
    lines += [
        "",
        f"Ratio of the result over the ground truth's: {ratio:.3f}.",
        f"The result's ratio for {len(edges) + len(col_edges)} lines drawn at random at least 8 pixels from any "
        f"tile edge (2000 draws): 5th-95th percentile {lo:.3f}-{hi:.3f}; {100 * (null >= observed).mean():.0f} % "
        f"of draws at or above the tile edges' {observed:.3f}.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
