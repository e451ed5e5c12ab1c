"""Giving the held-out pixels back: going on with every pixel, or averaging two folds.

    python benchmarks/folds.py [--data ../shared/data]
        [--cases pan_im4,landsat7_rr,cave_pan_outside,pan256,cave128_x8_snr30,hs128]
        [--out benchmarks/results/folds-cpu.json]

The default holds a seeded 10 % of the low-resolution pixels out of the fit, makes every choice
on them, then lets the chosen fit go on with every pixel. Cross-validation's other answer is to
average the folds: fit once per fold, each fold holding out a different, disjoint share and
choosing on it, and return the mean of the folds' choices as fitted. Every pixel is then fitted
by at least one fold, and each fold's choice is still made on pixels it did not see; the mean of
two fits is also an ensemble, which a second run of the default with another seed gives as well.
On each pair, with the CPU preset, on the CPU, one run after the other:

- ``default``: the default, seed 0 (10 % held out, the chosen fit going on with every pixel);
- ``default, seed 1``: the same with seed 1 (its own held-out draw), and ``two seeds``, the mean
  of the two defaults' results (an ensemble of two, every pixel fitted by both);
- ``fold 0``, ``fold 1``: the default's choices without going on (``refit=False``: the estimate
  chosen as fitted; a residual fit's correction on its classic start made from every pixel),
  fold 0 holding out the default's own pixels (seed 0), fold 1 the next 10 % in the same seeded
  order (``gdd.problems.pixels.holdout_mask(fold=1)``, disjoint from fold 0) and the network
  seeded 1; ``two folds``, the mean of the two.

PSNR and SAM against the reference, which nothing here sees; the steps each run took (every
fit's: each start's and each going on's, also listed one by one), and seconds. ``--update``
replaces the pairs run in an existing JSON and keeps the others. Pairs: the bench's ``pan_im4``, ``landsat7_rr``,
``cave_pan_outside`` and ``cave128_x8_snr30`` (``bench_cases.py``), and the unseen ``pan256``
and ``hs128`` of ``speed.py``. JSON after each pair. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FOLD_SEED = 0  # the seeded order every fold's block is taken from: fold 0 is the default's draw


@contextmanager
def fold(k: int) -> Iterator[None]:
    """Within it, every held-out draw takes the k-th block of seed 0's order (fold 0: the default's pixels)."""
    import gdd.problems.holdout as holdout
    from gdd.problems.pixels import holdout_mask

    def folded(height: int, width: int, fraction: float, *, seed: int, valid: Any = None) -> torch.Tensor:
        return holdout_mask(height, width, fraction, seed=FOLD_SEED, valid=valid, fold=k)

    before = holdout.holdout_mask
    holdout.holdout_mask = folded  # type: ignore[assignment]
    try:
        yield
    finally:
        holdout.holdout_mask = before


@contextmanager
def counting(steps: list[int]) -> Iterator[None]:
    """Within it, the steps of every fit ``solve`` runs (each start's, each going on) are appended to ``steps``."""
    import importlib

    solving = importlib.import_module("gdd.problems.solve")  # the module; the package's ``solve`` is the function
    before = solving.fit

    def counted(*args: Any, **kwargs: Any) -> Any:
        result = before(*args, **kwargs)
        steps.append(int(result.steps))
        return result

    solving.fit = counted  # type: ignore[assignment]
    try:
        yield
    finally:
        solving.fit = before


def run(problem: Any, reference: torch.Tensor, seed: int, **settings: Any) -> tuple[torch.Tensor, dict[str, Any]]:
    from gdd.metrics import psnr, sam
    from gdd.problems import solve

    steps: list[int] = []
    start = time.perf_counter()
    with counting(steps):
        result = solve(problem, device="cpu", seed=seed, **settings)
    seconds = time.perf_counter() - start
    x = result.x.detach().float().cpu().clamp(0, 1)
    record = {
        "psnr": psnr(x, reference),
        "sam": sam(x, reference),
        "seconds": seconds,
        "steps": sum(steps),
        "fits": steps,
        "chosen": result.choice.get("chosen"),
        "model": result.details.get("model_choice", {}).get("chosen"),
        "start": (result.details.get("start_rule") or {}).get("init"),
    }
    return x, record


def measure(problem: Any, reference: torch.Tensor) -> dict[str, Any]:
    from gdd.metrics import psnr, sam

    row: dict[str, Any] = {}
    xs: dict[str, torch.Tensor] = {}
    xs["default"], row["default"] = run(problem, reference, 0)
    xs["default, seed 1"], row["default, seed 1"] = run(problem, reference, 1)
    for k in (0, 1):
        with fold(k):
            xs[f"fold {k}"], row[f"fold {k}"] = run(problem, reference, k, refit=False)
    for name, parts in (("two seeds", ("default", "default, seed 1")), ("two folds", ("fold 0", "fold 1"))):
        x = torch.stack([xs[p] for p in parts]).mean(dim=0)
        row[name] = {
            "psnr": psnr(x, reference),
            "sam": sam(x, reference),
            "seconds": sum(row[p]["seconds"] for p in parts),
            "steps": sum(row[p]["steps"] for p in parts),
        }
    return row


COLUMNS = ("default", "two seeds", "fold 0", "two folds")


def table(out: dict[str, Any]) -> list[str]:
    """The docs' table: PSNR / SAM, steps and seconds of each way, per pair, and what each run returned."""
    lines = [
        "| pair | " + " | ".join(COLUMNS) + " | returned: default, seed 1, fold 0, fold 1 |",
        "|---|" + "---:|" * len(COLUMNS) + "---|",
    ]
    for name, row in out.items():
        if not isinstance(row, dict) or "default" not in row:
            continue
        cells = [
            f"{row[c]['psnr']:.2f} / {row[c]['sam']:.2f}, {row[c]['steps']} steps, {row[c]['seconds']:.0f} s"
            for c in COLUMNS
        ]
        chosen = ", ".join(str(row[c]["chosen"]) for c in ("default", "default, seed 1", "fold 0", "fold 1"))
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {chosen} |")
    return lines


def main() -> None:
    import pan_models
    import speed
    from provenance import commit, machine

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--cases", default="pan_im4,landsat7_rr,cave_pan_outside,pan256,cave128_x8_snr30,hs128")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "folds-cpu.json")
    parser.add_argument("--update", action="store_true", help="keep --out's other pairs, replace these")
    args = parser.parse_args()
    data = args.data.resolve()
    out: dict[str, Any] = json.loads(args.out.read_text()) if args.update and args.out.exists() else {}
    out.update({"commit": commit(), "machine": machine(), "torch": torch.__version__})
    names = args.cases.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if name == "hs128":
                problem, reference, _ = speed.end_to_end_problems(data, False)["hs128"]
            else:
                problem, reference = pan_models.pairs(data, [name], Path(tmp))[name]
            out[name] = {**measure(problem, reference), "commit": commit()}
            args.out.write_text(json.dumps(out, indent=1, default=str) + "\n")
            done = {k: v for k, v in out[name].items() if isinstance(v, dict)}
            print(f"  {name}: " + ", ".join(f"{k} {v['psnr']:.2f}" for k, v in done.items()), flush=True)
    print("\n".join(table(out)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
