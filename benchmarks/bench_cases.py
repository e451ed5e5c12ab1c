"""The README's ``gdd bench`` tables: GDD (default and authors'), DIP and the classic methods.

    python benchmarks/bench_cases.py [--data ../shared/data] [--device cpu] [--out benchmarks/results/bench-cpu]
        [--budget authors|cpu] [--cases landsat7_rr,...]

Cases, as issue 7 ("never worse than the classic methods") sets them (made with ``gdd simulate``
where a reference has to be degraded):

1. ``cave128_x8``: CAVE balloons rows/cols 192:320 (the shared 128 x 128 fixture), block average
   by 8, RGB by the Nikon D700 response (Akhtar et al.);
2. ``cave512_x32``: the whole 512 x 512 balloons scene, block average by 32, same response;
3. ``pan_im4``: the authors' pansharpening demo as it comes (I_MS_input, I_PAN_input, I_MS_GT);
4. ``landsat7_rr``: the Landsat-7 ETM+ fixture (ratio 2) simulated at reduced resolution (Wald
   protocol: MTF-matched filters, gains 0.29 MS / 0.15 PAN), its MS as the reference;
5. ``landsat7_fr``: the same fixture at full resolution (no reference: D_lambda, D_s, QNR, HQNR).

GDD runs with its defaults for the device (the CPU preset on a CPU), the authors' GDD with their
settings at the same number of iterations, DIP (no guide) on the small cases (the README's
earlier table has it on the others).
Rerunning resumes: only missing rows run. Writes bench.md, bench.csv, rows.jsonl and a figure
per case to --out, the commands to commands.txt, and summary.md: per case, bicubic, GSA, the best
other classic method (by PSNR), the authors' GDD and the default. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from gdd.cli import main as gdd

HERE = Path(__file__).resolve().parent


def _run(argv: list[str], log: list[str], data: Path, work: Path) -> None:
    text = " ".join(argv).replace(str(data), "$DATA").replace(str(work), "$WORK")
    log.append("gdd " + text.replace(str(HERE.parent) + "/", ""))
    code = gdd(argv)
    if code:
        raise SystemExit(f"gdd {' '.join(argv)} failed with exit code {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--budget", choices=["authors", "cpu"], help="GDD's preset (default: the device's)")
    parser.add_argument("--cases", help="only these cases, e.g. landsat7_rr,pan_im4 (default: all five)")
    args = parser.parse_args()
    suffix = f"-{args.budget}" if args.budget else ""
    out = args.out or HERE / "results" / f"bench-{args.device}{suffix}"
    data = args.data.resolve()
    log: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        srf = data / "srf" / "nikon_d700_akhtar2014_400-700nm_10nm.csv"
        crop = data / "fixtures" / "cave_balloons_crop128.npz"
        _run(["simulate", f"{crop}:hsi", "--bit-depth", "16", "--srf", str(srf), "--factor", "8",
              "--out", str(work / "cave128_x8")], log, data, work)  # fmt: skip
        _run(["simulate", str(data / "cave" / "balloons_ms"), "--srf", str(srf), "--factor", "32",
              "--out", str(work / "cave512_x32")], log, data, work)  # fmt: skip
        mat = data / "gdd_demo" / "pan_im4.mat"
        (work / "pan_im4").mkdir()
        (work / "pan_im4" / "case.json").write_text(json.dumps({
            "gdd_case": 1, "task": "pan", "ratio": 4, "source": "pan_im4.mat",
            "inputs": {"ms": f"{mat}:I_MS_input", "pan": f"{mat}:I_PAN_input"}, "reference": f"{mat}:I_MS_GT",
        }))  # fmt: skip
        landsat = data / "fixtures" / "landsat7_fusebox2_crop.npz"
        _run(["simulate", f"{landsat}:ms", "--pan", f"{landsat}:pan", "--bit-depth", "8", "--factor", "2",
              "--out", str(work / "landsat7_rr")], log, data, work)  # fmt: skip
        (work / "landsat7_fr").mkdir()
        (work / "landsat7_fr" / "case.json").write_text(json.dumps({
            "gdd_case": 1, "task": "pan", "ratio": 2, "source": "landsat7_fusebox2_crop.npz",
            "inputs": {"ms": f"{landsat}:ms", "pan": f"{landsat}:pan"}, "bit_depth": 8,
        }))  # fmt: skip
        hs = "gdd,gdd_authors,exp,gsa_hs,sfim_hs,glp_hs,cnmf"
        pan = "gdd,gdd_authors,exp,brovey,pca,gs,gsa,mtf_glp,mtf_glp_hpm,sfim"
        groups = (
            (["cave128_x8"], hs + ",dip"),
            (["landsat7_rr", "landsat7_fr"], pan + ",dip"),
            (["pan_im4"], pan),
            (["cave512_x32"], hs),
        )
        wanted = set(args.cases.split(",")) if args.cases else None
        budget = ["--budget", args.budget] if args.budget else []
        for names, methods in groups:
            names = [n for n in names if wanted is None or n in wanted]
            if names:
                argv = ["bench", *(str(work / n) for n in names), "--methods", methods, "--out", str(out),
                        "--device", args.device, "--seed", "0", "--quiet", "--resume", *budget]  # fmt: skip
                _run(argv, log, data, work)
    (out / "summary.md").write_text(summary(out / "rows.jsonl"))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip()
    (out / "commands.txt").write_text(
        f"# gdd commit {commit}, python {sys.version.split()[0]}; $DATA = ../shared/data, $WORK = a temporary folder\n"
        + "\n".join(log)
        + "\n"
    )
    print(f"wrote {out}")


CLASSIC_GSA = {"hs": "gsa_hs", "pan": "gsa"}
OWN = {"gdd", "gdd_authors", "dip"}


def _cell(by: dict[str, dict], m: str | None, best: str | None) -> str:
    if m is None or m not in by:
        return "n/a"
    metric = by[m]["metrics"]
    label = f"{by[m]['label']}: " if m == best else ""
    return f"{label}{metric['psnr']:.2f} dB / {metric['sam']:.2f}"


def _at_least(by: dict[str, dict], rivals: list[str | None]) -> str:
    """Whether the default is at least as good as every rival on PSNR and SAM (as printed, 2 decimals)."""
    present = [by[m]["metrics"] for m in rivals if m in by]
    if "gdd" not in by or not present:
        return "n/a"
    mine = by["gdd"]["metrics"]
    ok = all(
        round(mine["psnr"], 2) >= round(r["psnr"], 2) and round(mine["sam"], 2) <= round(r["sam"], 2) for r in present
    )
    return "yes" if ok else "no"


def summary(rows_path: Path) -> str:
    """Per reduced-resolution case: PSNR / SAM of bicubic, GSA, the best other classic, the authors' GDD, GDD."""
    rows: dict[str, dict[str, dict]] = {}
    for line in rows_path.read_text().splitlines():
        r = json.loads(line)
        if r.get("protocol") == "reduced" and r.get("metrics"):
            rows.setdefault(r["case"], {})[r["method"]] = r
    head = ("| case | bicubic | GSA | best other classic | GDD (authors) | GDD (default) | >= classic | >= authors |\n"
            "|---|---:|---:|---:|---:|---:|:---:|:---:|")  # fmt: skip
    lines = [head]
    for case, by in rows.items():
        gsa = "gsa_hs" if "gsa_hs" in by else "gsa"
        others = [m for m in by if m not in OWN | {"exp", gsa}]
        best = max(others, key=lambda m: by[m]["metrics"]["psnr"]) if others else None
        cells = [_cell(by, m, best) for m in ("exp", gsa, best, "gdd_authors", "gdd")]
        cells += [_at_least(by, [gsa, best]), _at_least(by, ["gdd_authors"])]
        lines.append(f"| {case} | {' | '.join(cells)} |")
    return "PSNR (dB) / SAM (degrees), against the reference.\n\n" + "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
