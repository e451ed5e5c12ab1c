"""How GDD should start from a classic fusion: the table that chose the defaults.

    python benchmarks/init_modes.py [--data ../shared/data] [--out benchmarks/results/init-modes-cpu.md]

On ``pan_im4`` (the authors' demo; the MS term with the authors' bicubic) and ``landsat7_rr``
(the Landsat-7 fixture simulated at reduced resolution with ``gdd simulate``: MTF-matched
filters, so the MS term uses the same MTF), at the CPU preset (500 steps, seed 0), GDD starts:

- ``none``: the authors' start (random network), the result chosen by data consistency with GSA
  as the fallback;
- ``residual``: estimate = classic + s (G - G_0), s learned from 0 (ReZero);
- ``warm``: the network first fitted to the classic image for 100 steps, then to the data;
- ``warm+residual``: both: the residual is taken from the warm network;
- ``ensemble`` (``--ensemble``): the mean of ``warm+residual`` from SFIM and ``warm`` from GSA;

from GSA and from SFIM, against the classic methods, with the share of the reduced PAN that a
linear mixture of the MS bands explains (R², the statistic by which the default, ``--init auto``,
chooses its start). PSNR (dB) and SAM (degrees) against the reference. Also the MS term's
degradation on ``pan_im4`` (bicubic against the MTF). Takes about 50 minutes on two CPU cores.
Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from gdd.baselines import PANSHARPENING
from gdd.bench import _score, load_case
from gdd.cli import main as gdd
from gdd.problems import ENSEMBLE, pan_linearity, pan_problem, solve

HERE = Path(__file__).resolve().parent

STARTS = {
    "none": {"init": "none"},
    "residual": {"warm_start": 0},
    "warm": {"warm_start": 100, "residual": False},
    "warm+residual": {"warm_start": 100},
}
(_, _, _), (MORE_INIT, MORE_WARM, MORE_RESIDUAL) = ENSEMBLE["pan"]

# The MS term with the other degradation: a few runs, to show what a wrong model costs.
WRONG_MODEL = {
    ("pan_im4", "mtf"): [("residual", "gsa")],
    ("landsat7_rr", "bicubic"): [("none", "gsa"), ("residual", "gsa"), ("warm", "gsa")],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "init-modes-cpu.md")
    parser.add_argument("--cases", default="pan_im4,landsat7_rr", help="which of pan_im4, landsat7_rr to run")
    args = parser.parse_args()
    data = args.data.resolve()
    lines = [
        "| case | MS term | start | from | PSNR | SAM | result chosen | seconds |",
        "|---|---|---|---|---:|---:|---|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mat = data / "gdd_demo" / "pan_im4.mat"
        (work / "pan_im4").mkdir()
        (work / "pan_im4" / "case.json").write_text(json.dumps({
            "gdd_case": 1, "task": "pan", "ratio": 4,
            "inputs": {"ms": f"{mat}:I_MS_input", "pan": f"{mat}:I_PAN_input"}, "reference": f"{mat}:I_MS_GT",
        }))  # fmt: skip
        landsat = data / "fixtures" / "landsat7_fusebox2_crop.npz"
        code = gdd(["simulate", f"{landsat}:ms", "--pan", f"{landsat}:pan", "--bit-depth", "8", "--factor", "2",
                    "--out", str(work / "landsat7_rr")])  # fmt: skip
        if code:
            raise SystemExit("gdd simulate failed")
        plan = [("pan_im4", "bicubic"), ("landsat7_rr", "mtf"), ("landsat7_rr", "bicubic"), ("pan_im4", "mtf")]
        plan = [(n, sp) for n, sp in plan if n in args.cases.split(",")]
        for name, spatial in plan:
            case = load_case(work / name)
            ms, pan = case.inputs["ms"], case.inputs["pan"]
            problem = pan_problem(ms, pan, case.factor, spatial=spatial)  # type: ignore[arg-type]
            if (name, spatial) in (("pan_im4", "bicubic"), ("landsat7_rr", "mtf")):
                for method, fn in PANSHARPENING.items():
                    s = _score(case, fn(ms, pan, ratio=case.factor))
                    lines.append(f"| {name} | | classic | {method} | {s['psnr']:.2f} | {s['sam']:.3f} | | |")
            every = [(start, init) for start in STARTS for init in (["gsa"] if start == "none" else ["gsa", "sfim"])]
            runs = WRONG_MODEL.get((name, spatial), [*every, ("ensemble", "sfim")])
            if (name, spatial) in (("pan_im4", "bicubic"), ("landsat7_rr", "mtf")):
                r2 = pan_linearity(ms, pan, case.factor)
                lines.append(f"| {name} | | R² of the reduced PAN on the MS bands: {r2:.4f} | | | | | |")
            for start, init in runs:
                if start == "ensemble":
                    more = {"more_starts": ((MORE_INIT, MORE_WARM, MORE_RESIDUAL),), **STARTS["warm+residual"]}
                    options = {"init": init, "keep_best": True, **more}
                else:
                    options = {"init": init, "keep_best": True, **STARTS[start]}
                t = time.perf_counter()
                result = solve(problem, device="cpu", seed=0, **options)  # type: ignore[arg-type]
                seconds = time.perf_counter() - t
                s = _score(case, result.x.detach().cpu())
                chosen = result.choice.get("chosen", "final")
                line = (f"| {name} | {spatial} | {start} | {result.choice.get('classic_name', init)} | "
                        f"{s['psnr']:.2f} | {s['sam']:.3f} | {chosen} | {seconds:.0f} |")  # fmt: skip
                print(line, flush=True)
                lines.append(line)
    args.out.write_text(
        "GDD at the CPU preset for pansharpening (500 steps, seed 0; the ensemble two fits of 500) by how "
        "it starts from a classic fusion; `python benchmarks/init_modes.py`.\n\n" + "\n".join(lines) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
