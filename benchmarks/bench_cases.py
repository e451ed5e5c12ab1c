"""The README's ``gdd bench`` table: GDD, its unguided ablation and the classic methods on four cases.

    python benchmarks/bench_cases.py [--data ../shared/data] [--device cpu] [--out benchmarks/results/bench-cpu]

Cases (made with ``gdd simulate`` where a reference has to be degraded):

1. ``cave_x8`` and ``cave_x32``: CAVE balloons, rows/cols 128:384 (256 x 256 x 31; the full
   512 x 512 scene costs 4x the time on a CPU), block average by 8 and 32, RGB by the Nikon D700
   response (Akhtar et al.);
2. ``pan_im4``: the authors' pansharpening demo as it comes (I_MS_input, I_PAN_input, I_MS_GT);
3. ``landsat7_fr``: the Landsat-7 ETM+ fixture at full resolution (ratio 2, no reference:
   D_lambda, D_s, QNR, HQNR).

Every method runs with its defaults; GDD, GDD from GSA (``--init gsa --keep-best``) and DIP
with the preset for the device (the CPU preset on a CPU). Rerunning resumes: only missing rows
run. Writes bench.md, bench.csv, rows.jsonl and a figure per case to --out, and the commands to
commands.txt. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from gdd.cli import main as gdd
from gdd.io import read_image

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
    args = parser.parse_args()
    out = args.out or HERE / "results" / f"bench-{args.device}"
    data = args.data.resolve()
    log: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cube = read_image(data / "cave" / "balloons_ms")[128:384, 128:384]
        np.savez(work / "balloons_256.npz", cube=cube, wavelengths_nm=np.arange(400.0, 701.0, 10.0))
        srf = data / "srf" / "nikon_d700_akhtar2014_400-700nm_10nm.csv"
        for factor in (8, 32):
            _run(["simulate", f"{work / 'balloons_256.npz'}:cube", "--srf", str(srf), "--factor", str(factor),
                  "--out", str(work / f"cave_x{factor}")], log, data, work)  # fmt: skip
        mat = data / "gdd_demo" / "pan_im4.mat"
        (work / "pan_im4").mkdir()
        (work / "pan_im4" / "case.json").write_text(json.dumps({
            "gdd_case": 1, "task": "pan", "ratio": 4, "source": "pan_im4.mat",
            "inputs": {"ms": f"{mat}:I_MS_input", "pan": f"{mat}:I_PAN_input"}, "reference": f"{mat}:I_MS_GT",
        }))  # fmt: skip
        landsat = data / "fixtures" / "landsat7_fusebox2_crop.npz"
        (work / "landsat7_fr").mkdir()
        (work / "landsat7_fr" / "case.json").write_text(json.dumps({
            "gdd_case": 1, "task": "pan", "ratio": 2, "source": "landsat7_fusebox2_crop.npz",
            "inputs": {"ms": f"{landsat}:ms", "pan": f"{landsat}:pan"},
        }))  # fmt: skip
        cases = [str(work / c) for c in ("cave_x8", "cave_x32", "pan_im4", "landsat7_fr")]
        hs = "gdd,gdd_gsa,dip,exp,gsa_hs,sfim_hs,glp_hs,cnmf"
        pan = "gdd,gdd_gsa,dip,exp,brovey,pca,gs,gsa,mtf_glp,mtf_glp_hpm,sfim"
        for group, methods in ((cases[:2], hs), (cases[2:], pan)):
            _run(["bench", *group, "--methods", methods, "--out", str(out), "--device", args.device,
                  "--seed", "0", "--quiet", "--resume"], log, data, work)  # fmt: skip
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip()
    (out / "commands.txt").write_text(
        f"# gdd commit {commit}, python {sys.version.split()[0]}; $DATA = ../shared/data, $WORK = a temporary folder\n"
        + "\n".join(log)
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
