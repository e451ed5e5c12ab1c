"""Peak memory of one GDD fit against its size: the figures behind ``gdd.app.estimate_memory``.

Each (task, budget, size) runs in a fresh process (6 steps of the task's default run, classic
start and keep-best included, on random inputs) and reports its
peak resident memory (CPU) or peak allocated memory (CUDA) above the process's footprint before
the fit. Each (task, budget) at the preset's width and a quarter of it, so that the model
bytes = overhead + (a + b * width) * pixels can be read off through the two largest sizes
(``--fit`` prints it); the peaks are kept in ``benchmarks/results/memory-<device>.json`` and the
table, with today's estimate of ``gdd.app.estimate_memory`` beside each figure, goes to
``benchmarks/results/memory-<device>.md``.

    python benchmarks/memory.py [--device cpu|cuda] [--sizes 256 512 1024] [--fit] [--from-json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, torch
from gdd.problems import hs_problem, pan_problem, flash_problem, solve
from gdd.app import estimate_memory
task, budget, size, device, width = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
g = torch.Generator().manual_seed(0)
f = 4 if task == "pan" else (8 if task == "hs" else 1)
c = {"hs": 31, "pan": 8, "flash": 3}[task]
lr = torch.rand(1, c, size // f, size // f, generator=g)
if task == "hs":
    p = hs_problem(lr, torch.rand(1, 3, size, size, generator=g), torch.rand(3, c, generator=g), f)
elif task == "pan":
    p = pan_problem(lr, torch.rand(1, 1, size, size, generator=g), f)
else:
    p = flash_problem(lr, torch.rand(1, c, size, size, generator=g))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if device == "cuda":
    torch.cuda.reset_peak_memory_stats()
# The task's default run (classic start, warm start for pan, keep-best, averaging) for 6 steps.
solve(p, device=device, budget=budget, iterations=6, width=width, **({"warm_start": 3} if task == "pan" else {}))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
peak = torch.cuda.max_memory_allocated() if device == "cuda" else after - before
est = estimate_memory(task, size, size, budget=budget, channels=width)
print(json.dumps({"task": task, "budget": budget, "width": width, "size": size, "peak": peak, "estimate": est}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--fit", action="store_true", help="print the model's coefficients per (task, budget)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument(
        "--from-json", action="store_true", help="no runs: the table again from the stored peaks, with today's estimate"
    )
    args = ap.parse_args()
    from gdd.app import estimate_memory
    from gdd.problems import PRESETS

    store = Path(__file__).parent / "results" / f"memory-{args.device}.json"
    rows = json.loads(store.read_text()) if store.exists() else []
    if not args.from_json:
        for task in ("hs", "pan", "flash"):
            for budget in ("cpu", "authors"):
                preset = PRESETS[(task, budget)].width
                for width in (preset, preset // 4):
                    for size in args.sizes:
                        out = subprocess.run(
                            [sys.executable, "-c", CHILD, task, budget, str(size), args.device, str(width)],
                            check=True,
                            capture_output=True,
                            text=True,
                        ).stdout
                        row = json.loads(out.strip().splitlines()[-1])
                        key = (task, budget, width, size)
                        rows = [r for r in rows if (r["task"], r["budget"], r["width"], r["size"]) != key] + [row]
                        print(row, flush=True)
                        store.write_text(json.dumps(rows, indent=0))
    # The estimate column is always today's gdd.app.estimate_memory.
    for r in rows:
        r["estimate"] = estimate_memory(r["task"], r["size"], r["size"], budget=r["budget"], channels=r["width"])
    rows.sort(key=lambda r: (["hs", "pan", "flash"].index(r["task"]), r["budget"] != "cpu", -r["width"], r["size"]))
    lines = [
        f"# Peak memory of one fit ({args.device}); command: python benchmarks/memory.py --device {args.device} --fit",
        "",
        "| task | budget | width | size | peak (MiB) | estimate (MiB) | estimate / peak |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['budget']} | {r['width']} | {r['size']} | {r['peak'] / 2**20:.0f} | "
            f"{r['estimate'] / 2**20:.0f} | {r['estimate'] / max(r['peak'], 1):.2f} |"
        )
    if args.fit:
        for task in ("hs", "pan", "flash"):
            for budget in ("cpu", "authors"):
                got = {(r["width"], r["size"]): r["peak"] for r in rows if (r["task"], r["budget"]) == (task, budget)}
                (w1, w2), (s1, s2) = sorted({w for w, _ in got}, reverse=True), sorted({s for _, s in got})[-2:]
                slope = {w: (got[(w, s2)] - got[(w, s1)]) / (s2 * s2 - s1 * s1) for w in (w1, w2)}
                b = (slope[w1] - slope[w2]) / (w1 - w2)
                a = slope[w1] - b * w1
                overhead = got[(w1, s2)] - slope[w1] * s2 * s2
                print(f"({task!r}, {budget!r}): ({overhead:.3g}, {a:.0f}, {b:.1f}),")
    out = Path(__file__).parent / "results" / f"memory-{args.device}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
