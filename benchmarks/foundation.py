"""Figures of the package's foundations, measured through the command line as a user runs it.

    python benchmarks/foundation.py [--data ../shared/data] [--device cpu] [--out benchmarks/results]

1. ``gdd pan`` on the authors' ``pan_im4`` (ratio 4), 500 iterations (8001 with --full), seed 0;
2. ``gdd hs`` on CAVE balloons rows/cols 192:320 (128 x 128 x 31), x8 block average, Nikon D700
   response, 500 iterations;
3. ``gdd flash`` on a CAVE stand-in with a known clean image (the same 128 x 128 crop rendered
   by the Nikon D700 response; no-flash = clean + Gaussian noise of sigma 0.05, seed 0; flash =
   the scene re-lit by a blue-heavy illuminant falling linearly from 1 at 400 nm to 0.3 at
   700 nm, noise-free), at the CPU preset (or 1001 iterations with --full);
4. ``gdd demo`` (embedded, simulated scene).

Each run's metrics (against the ground truth, next to bicubic upsampling) and wall time go to
``foundation-<device>.json`` with the commit, hardware and versions. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gdd.cli import main as gdd
from gdd.io import read_image, read_matrix

HERE = Path(__file__).resolve().parent


def _commit() -> str:
    from provenance import commit

    return commit()


def _portable(argv: list[str], data: Path, work: Path) -> str:
    """The command with the data and work folders written as $DATA and $WORK."""
    return "gdd " + " ".join(argv).replace(str(data), "$DATA").replace(str(work), "$WORK")


def _run(argv: list[str], json_path: Path) -> dict[str, object]:
    start = time.perf_counter()
    code = gdd([*argv, "--json", str(json_path), "--force", "--quiet"])
    if code:
        raise SystemExit(f"gdd {' '.join(argv)} failed with exit code {code}")
    report = json.loads(json_path.read_text())
    report["output"] = Path(str(report["output"])).name  # a temporary folder: keep the name only
    report["argv"] = argv
    report["wall_seconds_outer"] = time.perf_counter() - start
    return report


def cave_case(data: Path, work: Path, *, factor: int = 8) -> dict[str, Path]:
    """The CAVE x8 case: 128 x 128 crop, block average, RGB by the Nikon D700 response."""
    cube = read_image(data / "cave" / "balloons_ms")[192:320, 192:320]
    srf = read_matrix(data / "srf" / "nikon_d700_akhtar2014_400-700nm_10nm.csv").T  # 3 x 31
    srf = srf / srf.sum(axis=1, keepdims=True)
    h, w, c = cube.shape
    lowres = cube.reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3))
    files = {
        "gt": work / "cave_gt.npy",
        "hsi": work / "cave_hsi.npy",
        "rgb": work / "cave_rgb.npy",
        "srf": work / "cave_srf.csv",
    }
    np.save(files["gt"], cube)
    np.save(files["hsi"], lowres.astype(np.float32))
    np.save(files["rgb"], (cube @ srf.T).astype(np.float32))
    np.savetxt(files["srf"], srf, delimiter=",")
    return files


def flash_case(data: Path, work: Path) -> dict[str, Path]:
    """A flash/no-flash stand-in with a clean reference (see the module docstring)."""
    cube = read_image(data / "cave" / "balloons_ms")[192:320, 192:320]
    srf = read_matrix(data / "srf" / "nikon_d700_akhtar2014_400-700nm_10nm.csv").T
    srf = srf / srf.sum(axis=1, keepdims=True)
    clean = cube @ srf.T
    flash = (cube * np.linspace(1.0, 0.3, cube.shape[2])) @ srf.T
    noisy = clean + np.random.default_rng(0).normal(0, 0.05, clean.shape)
    files = {"clean": work / "flash_clean.npy", "noisy": work / "flash_noisy.npy", "flash": work / "flash_guide.npy"}
    np.save(files["clean"], clean.astype(np.float32))
    np.save(files["noisy"], noisy.astype(np.float32))
    np.save(files["flash"], (flash / flash.max()).astype(np.float32))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--full", action="store_true", help="the authors' full iteration counts (GPU)")
    parser.add_argument("--skip", default="", help="comma-separated runs to skip: pan,hs,flash,demo")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mat = args.data / "gdd_demo" / "pan_im4.mat"
        if "pan" not in skip:
            iters = "8001" if args.full else "500"
            results["pan_im4"] = _run(
                [
                    "pan",
                    "--init",
                    "none",
                    "--no-keep-best",
                    "--holdout",
                    "0",
                    "--ms",
                    f"{mat}:I_MS_input",
                    "--pan",
                    f"{mat}:I_PAN_input",
                    "--ratio",
                    "4",
                    "--reference",
                    f"{mat}:I_MS_GT",
                    "--iterations",
                    iters,
                    "--seed",
                    "0",
                    "--device",
                    args.device,
                    "--out",
                    str(work / "pan_im4.npy"),
                ],
                work / "pan.json",
            )
        if "hs" not in skip:
            files = cave_case(args.data, work)
            iters = "20001" if args.full else "500"
            results["cave_balloons_128_x8"] = _run(
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
                    "--iterations",
                    iters,
                    "--seed",
                    "0",
                    "--device",
                    args.device,
                    "--out",
                    str(work / "cave.npy"),
                ],
                work / "hs.json",
            )
        if "flash" not in skip:
            files = flash_case(args.data, work)
            results["flash_cave_standin"] = _run(
                [
                    "flash",
                    "--noisy",
                    str(files["noisy"]),
                    "--guide",
                    str(files["flash"]),
                    "--reference",
                    str(files["clean"]),
                    *(["--iterations", "1001"] if args.full else []),
                    "--seed",
                    "0",
                    "--device",
                    args.device,
                    "--out",
                    str(work / "flash.npy"),
                ],
                work / "flash.json",
            )
        if "demo" not in skip:
            start = time.perf_counter()
            if gdd(["demo", "--out", str(work / "demo"), "--device", args.device, "--quiet", "--force"]):
                raise SystemExit("gdd demo failed")
            demo = json.loads((work / "demo" / "metrics.json").read_text())
            demo["wall_seconds_outer"] = time.perf_counter() - start
            demo["command"] = f"gdd demo --device {args.device}"
            results["demo"] = demo
    for r in results.values():
        if "argv" in r:
            r["command"] = _portable(r.pop("argv"), args.data, work)  # type: ignore[arg-type]
    record = {
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "hardware": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "results": results,
    }
    path = args.out / f"foundation-{args.device}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    for name, r in results.items():
        m = r.get("metrics", {})  # type: ignore[union-attr]
        for method, v in m.items():  # type: ignore[union-attr]
            print(f"{name:22s} {method:8s} PSNR {v['psnr']:6.2f}  SAM {v['sam']:6.3f}  ERGAS {v['ergas']:6.3f}")
        secs = r.get("seconds", r.get("total_seconds"))  # type: ignore[union-attr]
        print(f"{name:22s} {r['iterations']} iterations, {secs:.1f} s, {r['ms_per_iteration']:.0f} ms/iteration")  # type: ignore[index]
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
