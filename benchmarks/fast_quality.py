"""Quality of the CPU defaults' fast path: each case fitted with the defaults and with the plain path.

    python benchmarks/fast_quality.py [--data ../shared/data] [--cases a,b] [--out benchmarks/results/fast-quality-cpu]

On a CPU the presets run the network channels-last, and in bfloat16 autocast where it is at
least :data:`gdd.fusion.fastpath.BF16_MIN_WIDTH` wide and the CPU has bf16 in hardware
(:func:`gdd.fusion.fastpath.device_defaults`). This runs the default ``solve`` of every case
twice, with those defaults and with the plain float32 path (``fast=PLAIN``), same seed and
settings, and tabulates PSNR, SAM, the steps run and the wall time of each, and the differences.
The cases are the benchmark's (``benchmarks/bench_cases.py``, built the same way) and a flash
stand-in (the 128 x 128 flash/no-flash crop, the no-flash photo plus Gaussian noise of sigma
0.08 as the noisy input, seed 0). The two runs of a case differ only in arithmetic (summation
order, bf16 rounding), which the optimisation can amplify: a difference is a measurement of that
too. Writes ``fast_quality.md`` and ``rows.json``; the rows of cases not run this time are kept, each
with the commit it was measured at. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_cases import CASES, _Work  # noqa: E402

from gdd.bench import _problem, _score, load_case  # noqa: E402
from gdd.fusion.fastpath import PLAIN  # noqa: E402
from gdd.metrics import psnr  # noqa: E402
from gdd.problems import flash_problem, solve  # noqa: E402

DEFAULT_CASES = ("cave128_x8", "cave128_x8_snr30", "cave128_x8_d5100", "cave128_x8_shift1", "pan_im4",
                 "cave_pan_outside", "landsat7_rr", "flash_crop128")  # fmt: skip


def _flash(data: Path) -> tuple[Any, torch.Tensor]:
    pair = np.load(data / "fixtures" / "flash_noflash_crop128.npz")
    clean = torch.from_numpy(pair["noflash"] / 255.0).float().permute(2, 0, 1)[None]
    guide = torch.from_numpy(pair["flash"] / 255.0).float().permute(2, 0, 1)[None]
    noisy = clean + 0.08 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    return flash_problem(noisy, guide), clean


def _run(problem: Any, fast: dict[str, object] | None) -> tuple[torch.Tensor, dict[str, Any]]:
    start = time.perf_counter()
    result = solve(problem, device="cpu", seed=0, fast=fast)
    seconds = time.perf_counter() - start
    config = result.config.to_dict()
    return result.x.detach().cpu(), {
        "seconds": seconds,
        "steps": result.steps,
        "channels_last": config["channels_last"],
        "amp": config["amp"],
        "chosen": result.choice.get("chosen"),
        "model": result.details.get("model_choice", {}).get("chosen"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "fast-quality-cpu")
    args = parser.parse_args(argv)
    names = [n for n in args.cases.split(",") if n]
    from provenance import commit as tree_commit

    commit = tree_commit(short=True)
    # The rows of other cases already in --out stay (each says its commit); these cases' are replaced.
    old = args.out / "rows.json"
    kept = json.loads(old.read_text()) if old.is_file() else []
    rows: list[dict[str, Any]] = [r for r in kept if r["case"] not in names]
    with tempfile.TemporaryDirectory() as tmp:
        w = _Work(args.data.resolve(), Path(tmp), [])
        for name in names:
            if name == "flash_crop128":
                problem, clean = _flash(args.data)

                def score(x: torch.Tensor, clean: torch.Tensor = clean) -> dict[str, float | None]:
                    return {"psnr": psnr(x.float().clamp(0, 1), clean), "sam": None}
            else:
                case = load_case(CASES[name].build(w, name))
                problem = _problem(case)

                def score(x: torch.Tensor, case: Any = case) -> dict[str, float | None]:
                    return _score(case, x)

            row: dict[str, Any] = {"case": name, "commit": commit.strip()}
            for label, fast in (("defaults", None), ("plain", PLAIN)):
                x, info = _run(problem, fast)
                metrics = score(x)
                row[label] = {**info, "psnr": metrics.get("psnr"), "sam": metrics.get("sam"), "qnr": metrics.get("qnr")}
                print(f"{name:20s} {label:9s} {json.dumps(row[label])}", flush=True)
            rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
    (args.out / "fast_quality.md").write_text(table(rows))
    print(table(rows))


def _f(v: Any, digits: int) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of the rows: defaults against plain, and their differences."""
    lines = [
        "CPU defaults against the plain float32 path, CPU preset, seed 0 (`python benchmarks/fast_quality.py`; "
        "each row measured at the commit it names).",
        "",
        "| case | commit | fast path | PSNR defaults | PSNR plain | ΔPSNR (dB) | SAM defaults | SAM plain | "
        "steps defaults / plain | time defaults / plain (s) | time ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        d, p = r["defaults"], r["plain"]
        switches = ", ".join(n for n, on in (("channels-last", d["channels_last"]), ("bf16", d["amp"] == "bf16")) if on)
        delta = None if d["psnr"] is None or p["psnr"] is None else d["psnr"] - p["psnr"]
        lines.append(
            f"| {r['case']} | {r.get('commit', '?')} | {switches or 'none'} | {_f(d['psnr'], 2)} | "
            f"{_f(p['psnr'], 2)} | {_f(delta, 2)} | "
            f"{_f(d['sam'], 2)} | {_f(p['sam'], 2)} | {d['steps']} / {p['steps']} | "
            f"{d['seconds']:.0f} / {p['seconds']:.0f} | {d['seconds'] / p['seconds']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
