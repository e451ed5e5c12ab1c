"""How ``gdd pan --spatial auto`` chooses the MS degradation: consistent classic starts on held-out pixels.

    python benchmarks/pan_models.py [--data ../shared/data] [--cases pan_im4,landsat7_rr,pan256,pan_im4_mtf]
        [--out benchmarks/results/pan-models-cpu.json]

For pairs whose degradation is known, under each model (the authors' bicubic, the MTF), each
classic start (GSA, SFIM) is computed from the MS with 10 % of its pixels held out (seed 0, as
the default), then made consistent with the kept pixels under that model
(:func:`gdd.problems.classic.consistent`). The table gives each image's held-out error and its
PSNR against the reference (a measurement in hindsight; the choice never sees it), and the
model :func:`gdd.problems.holdout.choose_model` chooses. No network is fitted. Pairs:

- ``pan_im4``: the authors' demo, its MS made by bicubic reduction;
- ``pan_im4_mtf``: the same reference reduced by the MTF (gain 0.29) instead;
- ``landsat7_rr``: the bench's Landsat-7 case by Wald's protocol (``gdd simulate``, MTF);
- ``pan256``: the CAVE jelly beans case of ``speed.py`` (8 bands, MTF x4).

Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
MADE_BY = {"pan_im4": "bicubic", "pan_im4_mtf": "mtf", "landsat7_rr": "mtf", "pan256": "mtf"}


def pairs(data: Path, names: list[str], work: Path) -> dict[str, tuple[Any, torch.Tensor]]:
    """name -> (problem, reference)."""
    import bench_cases
    import speed

    from gdd.bench import _problem, load_case
    from gdd.problems import pan_problem
    from gdd.sensors import mtf_decimate

    out: dict[str, tuple[Any, torch.Tensor]] = {}
    w = bench_cases._Work(data, work, [])
    for name in names:
        if name == "pan256":
            problem, reference, _ = speed.end_to_end_problems(data, False)["pan256"]
            out[name] = (problem, reference)
        elif name == "pan_im4_mtf":
            case = load_case(bench_cases.CASES["pan_im4"].build(w, "pan_im4_for_mtf"))
            assert case.reference is not None
            ms = mtf_decimate(case.reference, 4, [0.29] * case.reference.shape[1]).float()
            out[name] = (pan_problem(ms, case.inputs["pan"], 4), case.reference)
        else:
            case = load_case(bench_cases.CASES[name].build(w, name))
            assert case.reference is not None
            out[name] = (_problem(case), case.reference)
    return out


def measure(problem: Any, reference: torch.Tensor) -> dict[str, Any]:
    from gdd.metrics import psnr
    from gdd.problems.classic import consistent, pan_classic, tame
    from gdd.problems.holdout import choose_model, held_out, holdout_error

    row: dict[str, Any] = {}
    for model, make in problem.alternatives.items():
        fitted, validation = held_out(make(), 0.1, seed=0)
        ms, pan = fitted.observation, fitted.guide
        observed = next(t for t in fitted.make_terms() if t.name == fitted.observed)
        for name in ("gsa", "sfim"):
            raw = tame(pan_classic(name, ms, pan, fitted.factor).float(), fitted.baseline())
            made = consistent(raw, observed.operator, observed.target, observed.mask)
            row[f"{model} {name}"] = {
                "raw": {"held_out": holdout_error(raw, validation), "psnr": psnr(raw.clamp(0, 1), reference)},
                "consistent": {"held_out": holdout_error(made, validation), "psnr": psnr(made.clamp(0, 1), reference)},
            }
    chosen, errors, _ = choose_model(problem, 0.1, seed=0)
    return {"images": row, "chosen": chosen, "held_out": errors}


LABELS = {
    "pan_im4": "`pan_im4` (bicubic)",
    "pan_im4_mtf": "`pan_im4`'s reference, MTF x4 (MTF)",
    "landsat7_rr": "`landsat7_rr` (MTF)",
    "pan256": "CAVE jelly beans 256 x 256 x 8, MTF x4 (MTF)",
}


def table_row(name: str, row: dict[str, Any]) -> str:
    """The docs' row: the choice, each start raw and consistent under the maker, each model's error."""
    maker, images = row["made_by"], row["images"]
    cells = [LABELS.get(name, name), row["chosen"]]
    for start in ("gsa", "sfim"):
        image = images[f"{maker} {start}"]
        cells.append(f"{image['raw']['psnr']:.2f} / {image['consistent']['psnr']:.2f}")
    cells.append(" / ".join(f"{row['held_out'][m]:.3g}" for m in ("bicubic", "mtf")))
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--cases", default="pan_im4,pan_im4_mtf,landsat7_rr,pan256")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "pan-models-cpu.json")
    args = parser.parse_args()
    from provenance import commit

    print("| pair (made by) | chosen | GSA, raw / consistent | SFIM, raw / consistent | held-out: bicubic / MTF |")
    print("|---|---|---:|---:|---:|")
    out: dict[str, Any] = {"commit": commit(), "torch": torch.__version__, "seed": 0, "holdout": 0.1}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (problem, reference) in pairs(args.data.resolve(), args.cases.split(","), Path(tmp)).items():
            row = measure(problem, reference)
            row["made_by"] = MADE_BY.get(name)
            out[name] = row
            print(table_row(name, row), flush=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
