"""Blind HS fusion on scenes the bench does not use, as a user with a pair from two sensors runs it.

    python benchmarks/two_sensor.py [--data ../shared/data] [--scenes feathers,jelly_beans]
        [--cases d5100,cie1931] [--average-at-noise] [--out benchmarks/results/two-sensor-cpu.json]

No real pair from two sensors with a reference is in the shared data, so each pair is made
with ``gdd simulate`` from a CAVE scene the defaults were never tuned on (rows/cols 192:320,
128 x 128 x 31, factor 8): a guide by a camera response the fusion is not told, a Gaussian blur,
a registration shift of a pixel and white Gaussian noise at 30 dB SNR per band on both inputs
(seed 0). Then, on two CPU cores, each is fused:

- ``gdd hs --srf estimate --blur estimate`` (the default CPU preset; the command a user runs
  when nobody knows the degradations), through the command line, timed;
- ``gdd hs`` told the true response and kernel (``case/srf.csv``, ``case/kernel.npy``, with
  ``--no-normalize-srf``), the same default otherwise;
- the classic hypersharpening methods (GSA-HS, SFIM-HS, GLP-HS, CNMF) given the true response
  and the true blur (kernel with its shift), and GSA-HS given the estimated ones.

PSNR and SAM against the clean scene. The JSON is written after each pair. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
FACTOR = 8
CROP = slice(192, 320)

#: name -> (camera, Gaussian sigma in high-resolution pixels or None for FWHM = factor, shift rows,cols)
CASES: dict[str, tuple[str, float | None, tuple[int, int]]] = {
    "d5100": ("nikon-d5100", 3.0, (1, -1)),
    "cie1931": ("cie1931", None, (0, 1)),
}
SNR_DB = 30.0


def _gdd(args: list[str], log: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gdd", "hs", *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"gdd hs failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return seconds


def _scores(x: torch.Tensor, gt: torch.Tensor) -> dict[str, float]:
    from gdd.metrics import psnr, sam

    x = x.detach().float().clamp(0, 1)
    return {"psnr": psnr(x, gt), "sam": sam(x, gt)}


def _response(m: np.ndarray, bands: int) -> torch.Tensor:
    """A response read from a file as (guide bands, HS bands), whichever way the file holds it."""
    return torch.from_numpy(m if m.shape[0] == bands else m.T).float()


def make_pair(data: Path, scene: str, case: str, folder: Path) -> Path:
    """The pair ``case`` of ``scene`` made with ``gdd simulate`` in ``folder``; returns its case folder."""
    from gdd.io import read_image
    from gdd.simulate import CAVE_WAVELENGTHS, spectral_response

    camera, sigma, shift = CASES[case]
    folder.mkdir(parents=True, exist_ok=True)
    cube = read_image(str(data / "cave" / f"{scene}_ms"))[CROP, CROP]
    np.save(folder / "ref.npy", np.ascontiguousarray(cube, dtype=np.float32))
    np.save(folder / "srf.npy", spectral_response(camera, CAVE_WAVELENGTHS))
    simulate = [sys.executable, "-m", "gdd", "simulate", str(folder / "ref.npy"), "--out", str(folder / "case")]
    simulate += ["--factor", str(FACTOR), "--srf", str(folder / "srf.npy"), "--spatial", "gaussian"]
    simulate += ["--shift", f"{shift[0]},{shift[1]}", "--snr-db", str(SNR_DB), "--seed", "0", "--force"]
    simulate += ["--sigma", str(sigma)] if sigma is not None else []
    subprocess.run(simulate, check=True, capture_output=True)
    return folder / "case"


def measure(data: Path, scene: str, case: str, work: Path, options: tuple[str, ...] = ()) -> dict[str, Any]:
    """One pair: the two ``gdd hs`` runs (with ``options`` added) and the classic methods."""
    from gdd.baselines import HS_FUSION
    from gdd.io import read_image, read_matrix, to_tensor
    from gdd.operators import KernelDownsample

    camera, sigma, shift = CASES[case]
    folder = work / f"{scene}_{case}"
    c = make_pair(data, scene, case, folder)
    hsi, msi = to_tensor(np.load(c / "hsi.npy")), to_tensor(np.load(c / "msi.npy"))
    gt = to_tensor(np.load(c / "gt.npy"))
    common = ["--hsi", str(c / "hsi.npy"), "--guide", str(c / "msi.npy"), "--factor", str(FACTOR)]
    common += ["--reference", str(c / "gt.npy"), "--device", "cpu", "--quiet", "--force", *options]
    row: dict[str, Any] = {"camera": camera, "sigma": sigma, "shift": list(shift), "snr_db": SNR_DB}
    runs = {
        "gdd_estimated": ["--srf", "estimate", "--blur", "estimate"],
        "gdd_true": ["--srf", str(c / "srf.csv"), "--blur", str(c / "kernel.npy"), "--no-normalize-srf"],
    }
    for name, extra in runs.items():
        out = folder / f"{name}.tif"
        seconds = _gdd(
            [*common, *extra, "--out", str(out), "--json", str(folder / f"{name}.json")], out.with_suffix(".log")
        )
        record = json.loads((folder / f"{name}.json").read_text())
        x = to_tensor(read_image(str(out)))
        row[name] = {**_scores(x, gt), "seconds": seconds, "chosen": record.get("choice", {}).get("chosen")}
        if "degradations" in record.get("settings", {}):
            row[name]["degradations"] = record["settings"]["degradations"]
        print(
            f"  {scene} {case} {name}: {row[name]['psnr']:.2f} dB, SAM {row[name]['sam']:.2f}, {seconds:.0f} s",
            flush=True,
        )
    true_srf = _response(read_matrix(c / "srf.csv"), msi.shape[1])
    true_kernel = KernelDownsample(torch.from_numpy(np.load(c / "kernel.npy")).float(), FACTOR)
    row["classic_true"] = {}
    for method in ("gsa_hs", "sfim_hs", "glp_hs", "cnmf"):
        start = time.perf_counter()
        x = HS_FUSION[method](hsi, msi, factor=FACTOR, srf=true_srf, spatial=true_kernel)
        row["classic_true"][method] = {**_scores(x, gt), "seconds": time.perf_counter() - start}
    best = max(row["classic_true"], key=lambda m: row["classic_true"][m]["psnr"])
    row["best_classic_true"] = best
    est_srf = _response(read_matrix(folder / "gdd_estimated.srf.csv"), msi.shape[1])
    est_kernel = KernelDownsample(torch.from_numpy(np.load(folder / "gdd_estimated.kernel.npy")).float(), FACTOR)
    row["gsa_hs_estimated"] = _scores(HS_FUSION["gsa_hs"](hsi, msi, factor=FACTOR, srf=est_srf, spatial=est_kernel), gt)
    row["margin_db"] = row["gdd_estimated"]["psnr"] - row["classic_true"][best]["psnr"]
    print(f"  {scene} {case} best classic given the truth: {best} {row['classic_true'][best]['psnr']:.2f} dB; "
          f"GDD blind {row['margin_db']:+.2f} dB", flush=True)  # fmt: skip
    return row


NAMES = {"gsa_hs": "GSA-HS", "sfim_hs": "SFIM-HS", "glp_hs": "GLP-HS", "cnmf": "CNMF"}


def table(out: dict[str, Any]) -> list[str]:
    """The docs' table: PSNR (dB) / SAM (degrees) of each run, from the JSON."""
    lines = [
        "| pair | `gdd hs`, estimated | `gdd hs`, told the truth | best classic, told the truth "
        "| GSA-HS, estimated | margin (dB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in out.items():
        if not isinstance(row, dict) or "gdd_estimated" not in row:  # the commit, the machine
            continue
        best = row["best_classic_true"]
        cells = [f"{row[k]['psnr']:.2f} / {row[k]['sam']:.2f}" for k in ("gdd_estimated", "gdd_true")]
        classic = row["classic_true"][best]
        cells.append(f"{NAMES[best]}: {classic['psnr']:.2f} / {classic['sam']:.2f}")
        cells.append(f"{row['gsa_hs_estimated']['psnr']:.2f} / {row['gsa_hs_estimated']['sam']:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['margin_db']:+.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--scenes", default="feathers,jelly_beans")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--average-at-noise", action="store_true", help="the gdd hs runs with --average-at-noise")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "two-sensor-cpu.json")
    args = parser.parse_args()
    from provenance import commit, machine

    out: dict[str, Any] = {
        "commit": commit(),
        "machine": machine(),
        "average_at_noise": args.average_at_noise,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for scene in args.scenes.split(","):
            for case in args.cases.split(","):
                options = ("--average-at-noise",) if args.average_at_noise else ()
                out[f"{scene}_{case}"] = measure(args.data.resolve(), scene, case, Path(tmp), options)
                args.out.write_text(json.dumps(out, indent=1) + "\n")
    print("\n".join(table(out)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
