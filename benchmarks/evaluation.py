"""Figures of the evaluation tools: ``gdd eval`` and ``--report`` on one run of each task.

    python benchmarks/evaluation.py [--data ../shared/data] [--device cpu] [--reports DIR]

1. ``gdd pan`` on ``pan_im4`` (500 iterations, seed 0, with ``--report``), then
   ``gdd eval`` of the result and of bicubic upsampling against ``I_MS_GT``, ratio 4: every
   reduced-resolution index;
2. ``gdd pan --full-resolution`` on the WorldView-3 pair ``wv3_fullres_example.mat`` (11-bit,
   500 iterations, with ``--report``), then ``gdd eval --ms --pan --sensor WV3`` of the result
   and of bicubic: D_lambda, D_s, QNR, Khan's D_lambda, HQNR;
3. ``gdd hs`` on the CAVE x8 case and ``gdd flash`` on the CAVE stand-in (see foundation.py),
   CPU presets, with ``--report``.

The tables go to ``evaluation-<device>.json`` (with the commands, $DATA and $WORK standing for
the data and work folders); the HTML reports to ``--reports`` (default: results/reports-<device>,
not committed). Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from foundation import _commit, _portable, cave_case, flash_case

from gdd.cli import main as gdd
from gdd.io import from_tensor, read_image, to_tensor
from gdd.problems import pan_problem

HERE = Path(__file__).resolve().parent
REPORTS = HERE / "results" / "reports"


def _call(argv: list[str], data: Path, work: Path) -> dict[str, object]:
    start = time.perf_counter()
    code = gdd([*argv, "--force"])
    if code:
        raise SystemExit(f"gdd {' '.join(argv)} failed with exit code {code}")
    command = _portable(argv, data, work).replace(str(REPORTS), "$REPORTS")
    return {"command": command, "seconds": time.perf_counter() - start}


def _table(path: Path, data: Path, work: Path) -> object:
    """The JSON written by gdd eval, with the data, work and report folders as $DATA, $WORK, $REPORTS."""
    text = path.read_text()
    for folder, name in ((REPORTS, "$REPORTS"), (data, "$DATA"), (work, "$WORK")):
        text = text.replace(str(folder), name)
    return json.loads(text)


def _bicubic(ms_spec: str, pan_spec: str, ratio: int, out: Path, bit_depth: int | None = None) -> Path:
    ms = to_tensor(read_image(ms_spec, bit_depth=bit_depth))
    pan = to_tensor(read_image(pan_spec, bit_depth=bit_depth))
    np.save(out, from_tensor(pan_problem(ms, pan, ratio).baseline()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--reports", type=Path, help="folder for the HTML reports")
    args = parser.parse_args()
    global REPORTS
    reports = REPORTS = args.reports or args.out / f"reports-{args.device}"
    reports.mkdir(parents=True, exist_ok=True)
    data = args.data
    runs: dict[str, object] = {}
    fast = ["--seed", "0", "--device", args.device, "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mat = data / "gdd_demo" / "pan_im4.mat"
        ms, pan, gt = f"{mat}:I_MS_input", f"{mat}:I_PAN_input", f"{mat}:I_MS_GT"
        fit = _call(
            [
                "pan",
                "--init",
                "none",
                "--no-keep-best",
                "--holdout",
                "0",
                "--ms",
                ms,
                "--pan",
                pan,
                "--ratio",
                "4",
                "--reference",
                gt,
                "--iterations",
                "500",
                "--out",
                str(work / "gdd.npy"),
                "--report",
                str(reports / "pan_im4.html"),
                *fast,
            ],
            data,
            work,
        )
        _bicubic(ms, pan, 4, work / "bicubic.npy")
        table = work / "pan_im4_eval.json"
        ev = _call(
            [
                "eval",
                str(work / "gdd.npy"),
                str(work / "bicubic.npy"),
                "--reference",
                gt,
                "--ratio",
                "4",
                "--json",
                str(table),
                "--csv",
                str(work / "pan_im4_eval.csv"),
                "--report",
                str(reports / "pan_im4_eval.html"),
            ],
            data,
            work,
        )
        runs["pan_im4"] = {"fit": fit, "eval": ev, "table": _table(table, data, work)}

        wv3 = data / "pansharpening" / "wv3_fullres_example.mat"
        ms, pan = f"{wv3}:I_MS_LR", f"{wv3}:I_PAN"
        fit = _call(
            [
                "pan",
                "--init",
                "none",
                "--no-keep-best",
                "--holdout",
                "0",
                "--ms",
                ms,
                "--pan",
                pan,
                "--ratio",
                "4",
                "--full-resolution",
                "--bit-depth",
                "11",
                "--iterations",
                "500",
                "--out",
                str(work / "wv3_gdd.npy"),
                "--report",
                str(reports / "wv3_fullres.html"),
                *fast,
            ],
            data,
            work,
        )
        _bicubic(ms, pan, 4, work / "wv3_bicubic.npy", bit_depth=11)
        table = work / "wv3_eval.json"
        ev = _call(
            [
                "eval",
                str(work / "wv3_gdd.npy"),
                str(work / "wv3_bicubic.npy"),
                "--ms",
                ms,
                "--pan",
                pan,
                "--sensor",
                "WV3",
                "--bit-depth",
                "11",
                "--json",
                str(table),
                "--report",
                str(reports / "wv3_fullres_eval.html"),
            ],
            data,
            work,
        )
        runs["wv3_fullres"] = {"fit": fit, "eval": ev, "table": _table(table, data, work)}

        files = cave_case(data, work)
        runs["cave_balloons_128_x8"] = {
            "fit": _call(
                [
                    "hs",
                    "--init",
                    "none",
                    "--no-keep-best",
                    "--holdout",
                    "0",
                    "--hsi",
                    str(files["hsi"]),
                    "--guide",
                    str(files["rgb"]),
                    "--srf",
                    str(files["srf"]),
                    "--factor",
                    "8",
                    "--reference",
                    str(files["gt"]),
                    "--out",
                    str(work / "cave.npy"),
                    "--report",
                    str(reports / "cave_hs.html"),
                    *fast,
                ],
                data,
                work,
            )
        }
        files = flash_case(data, work)
        runs["flash_cave_standin"] = {
            "fit": _call(
                [
                    "flash",
                    "--noisy",
                    str(files["noisy"]),
                    "--guide",
                    str(files["flash"]),
                    "--reference",
                    str(files["clean"]),
                    "--out",
                    str(work / "flash.npy"),
                    "--report",
                    str(reports / "flash.html"),
                    *fast,
                ],
                data,
                work,
            )
        }
    result = {
        "commit": _commit(),
        "device": args.device,
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "versions": {"torch": torch.__version__, "python": sys.version.split()[0]},
        "runs": runs,
    }
    path = args.out / f"evaluation-{args.device}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path} and the reports in {reports}")


if __name__ == "__main__":
    main()
