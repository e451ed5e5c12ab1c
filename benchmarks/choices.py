"""How GDD chooses without a reference: held-out pixels against ES-WMV, and what to do after choosing.

    python benchmarks/choices.py [--data ../shared/data] [--out benchmarks/results/choices-cpu] [--cases a,b]

Small cases (made with ``gdd simulate`` from ``../shared/data``; none of them chose a default):

- ``cave64_x4_snr30``: the CAVE 64 x 64 fixture, block average by 4, Nikon D700 RGB, 30 dB noise;
- ``cave64_x4_d5100``: the guide made with the Nikon D5100 response, the fusion told the D700;
- ``pan_im4_crop``: the 64 x 64 crop of the authors' pansharpening demo (MS reduced by bicubic);
- ``landsat7_rr``: the Landsat-7 fixture at reduced resolution (Wald protocol: MTF filters);
- ``flash_noisy``: the flash/no-flash crop, the no-flash image with Gaussian noise (std 0.08)
  and the flash image as guide; the clean no-flash image is the reference.

Each case is fitted once with the CPU preset (10 % of the low-resolution pixels held out), every
iterate observed (every 5 steps) and scored against the reference in hindsight. The table gives
the PSNR of the final estimate, of the iterate held-out validation returns, of the iterate
ES-WMV returns (Wang et al., "Early Stopping for Deep Image Prior", TMLR 2023: the minimum of
the running variance of the iterates over a window of 50 steps), the best iterate (the
oracle), the classic start, and what the default returns after choosing: the chosen estimate
with every pixel given back (``refit=True``, the default: continued on every pixel when the fit
ran to its cap on it, else fitted again for the chosen number of steps), or as it was fitted,
without the held-out pixels (``refit=False``). Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gdd.bench import _problem, load_case
from gdd.cli import main as gdd
from gdd.metrics import psnr
from gdd.problems import flash_problem, solve

HERE = Path(__file__).resolve().parent
CASES = ["cave64_x4_snr30", "cave64_x4_d5100", "pan_im4_crop", "landsat7_rr", "flash_noisy"]
WINDOW = 10  # iterates (50 steps) in ES-WMV's running variance


def _psnr(x: torch.Tensor, ref: torch.Tensor, ratio: int) -> float:
    # The bench's PSNR (reduced_resolution's, no border cut) without its costlier indices.
    return psnr(x.detach().float().cpu().clamp(0, 1), ref)


def _make(name: str, data: Path, work: Path) -> tuple[object, torch.Tensor, int]:
    """(problem, reference, ratio) of a case."""
    d700 = data / "srf" / "nikon_d700_akhtar2014_400-700nm_10nm.csv"
    d5100 = data / "srf" / "colour_nikon_d5100_npl_400-700nm_10nm.csv"
    crop = data / "fixtures" / "cave_balloons_crop64.npz"
    quiet = ["--force"]
    if name == "flash_noisy":
        pair = np.load(data / "fixtures" / "flash_noflash_crop128.npz")
        clean = torch.from_numpy(pair["noflash"].astype(np.float32) / 255).permute(2, 0, 1)[None]
        guide = torch.from_numpy(pair["flash"].astype(np.float32) / 255).permute(2, 0, 1)[None]
        noisy = clean + 0.08 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
        return flash_problem(noisy, guide), clean, 1
    folder = work / name
    if name == "cave64_x4_snr30":
        argv = ["simulate", f"{crop}:hsi", "--bit-depth", "16", "--srf", str(d700), "--factor", "4",
                "--snr-db", "30", "--out", str(folder)]  # fmt: skip
    elif name == "cave64_x4_d5100":
        argv = ["simulate", f"{crop}:hsi", "--bit-depth", "16", "--srf", str(d5100), "--factor", "4",
                "--out", str(folder)]  # fmt: skip
    elif name == "landsat7_rr":
        landsat = data / "fixtures" / "landsat7_fusebox2_crop.npz"
        argv = ["simulate", f"{landsat}:ms", "--pan", f"{landsat}:pan", "--bit-depth", "8", "--factor", "2",
                "--out", str(folder)]  # fmt: skip
    elif name == "pan_im4_crop":
        fixture = data / "fixtures" / "gdd_pan_im4_crop.npz"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "case.json").write_text(json.dumps({
            "gdd_case": 1, "task": "pan", "ratio": 4, "grid": "bicubic",
            "inputs": {"ms": f"{fixture}:ms", "pan": f"{fixture}:pan"}, "reference": f"{fixture}:gt",
        }))  # fmt: skip
        argv = []
    else:
        raise SystemExit(f"unknown case {name}")
    if argv and gdd(argv + quiet) != 0:
        raise SystemExit(f"gdd {' '.join(argv)} failed")
    if name == "cave64_x4_d5100":
        info = json.loads((folder / "case.json").read_text())
        info["inputs"]["srf"] = str(d700)  # the fusion is told another camera
        (folder / "case.json").write_text(json.dumps(info))
    case = load_case(folder)
    assert case.reference is not None
    return _problem(case), case.reference, case.factor


def _es_wmv(iterates: list[tuple[int, torch.Tensor]]) -> int:
    """The index of the iterate at the minimum of the running variance (window ``WINDOW``)."""
    best, best_var = len(iterates) - 1, float("inf")
    for i in range(len(iterates) - WINDOW + 1):
        stack = torch.stack([x for _, x in iterates[i : i + WINDOW]])
        var = float(stack.var(dim=0, unbiased=False).sum())
        if var < best_var:
            best, best_var = i, var
    return best


def run_case(name: str, data: Path, work: Path) -> dict[str, object]:
    problem, ref, ratio = _make(name, data, work)
    seen: list[tuple[str, torch.Tensor]] = []
    start = time.perf_counter()
    result = solve(problem, device="cpu", seed=0, log_every=5, observe=lambda n, x: seen.append((n, x.cpu().clone())))  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    model = str(result.details.get("model_choice", {}).get("chosen", ""))
    prefix = f"{model}: " if model else ""
    steps = [(int(n[len(prefix) + 5 :]), x) for n, x in seen if n.startswith(prefix + "step ")]
    scores = {n: _psnr(x, ref, ratio) for n, x in seen}
    iterate_psnr = [scores[f"{prefix}step {s}"] for s, _ in steps]
    held_step = int(result.choice.get("best_step", steps[-1][0])) if result.choice.get("chosen") == "best" else None
    es = _es_wmv(steps)
    chosen = str(result.choice.get("chosen"))
    as_fitted = {"best": f"{prefix}step {held_step}", "final": f"{prefix}final", "classic": f"{prefix}classic"}
    start_psnr = float("nan")
    init = str(result.details.get("start_rule", {}).get("init", result.details["preset"].get("init")))
    if init != "none" and getattr(problem, "classic", None) is not None:
        from gdd.problems.classic import tame

        chosen_problem = problem.alternatives[model]() if model else problem  # type: ignore[attr-defined]
        start_psnr = _psnr(tame(chosen_problem.classic(init).float(), chosen_problem.baseline()), ref, ratio)
    row = {
        "case": name,
        "start_psnr": start_psnr,
        "model": model or "n/a",
        "start": str(result.details.get("start_rule", {}).get("init", result.details["preset"].get("init"))),
        "chosen": result.choice.get("chosen"),
        "held_step": held_step,
        "steps_run": result.steps,
        "final": scores.get(f"{prefix}final", float("nan")),
        "classic": scores.get(f"{prefix}classic", float("nan")),
        "default": _psnr(result.x, ref, ratio),
        "es_wmv": iterate_psnr[es],
        "es_wmv_step": steps[es][0],
        "oracle": max(iterate_psnr),
        "oracle_step": steps[int(np.argmax(iterate_psnr))][0],
        "no_refit": scores.get(as_fitted.get(chosen, ""), float("nan")),
        "seconds": seconds,
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "choices-cpu")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            row = run_case(name, args.data.resolve(), Path(tmp))
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    (args.out / "choices.json").write_text(json.dumps(rows, indent=1) + "\n")
    head = ("| case | model | start | classic start | final | ES-WMV (step) | "
            "held-out choice, as fitted (chosen, step) | default: refitted | oracle (step) | "
            "gap ES-WMV | gap held-out |\n"
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['model']} | {r['start']} | {r['start_psnr']:.2f} | {r['final']:.2f} | "
            f"{r['es_wmv']:.2f} ({r['es_wmv_step']}) | "
            f"{r['no_refit']:.2f} ({r['chosen']}, {r['held_step'] or r['steps_run']}) | {r['default']:.2f} | "
            f"{r['oracle']:.2f} ({r['oracle_step']}) | {r['oracle'] - r['es_wmv']:.2f} | "
            f"{r['oracle'] - r['default']:.2f} |"
        )
    text = "PSNR (dB) against the reference, CPU preset, seed 0 (`python benchmarks/choices.py`).\n\n" + "\n".join(
        lines
    )
    (args.out / "choices.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
