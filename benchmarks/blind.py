"""Fusion when nobody knows the degradations: estimated against true and wrong-default ones.

    python benchmarks/blind.py [--data ../shared/data] [--out benchmarks/results/blind-cpu.md]

HS + RGB: the CAVE balloons crop 128 x 128 (rows/cols 192:320), factor 8, simulated with
``gdd.simulate.simulate_hs`` from a camera response of colour-science resampled to the 31 bands,
a Gaussian blur of a chosen width and a registration shift, none of which the estimator is told.
For each case GDD (CPU preset, 600 steps, seed 0) runs three times: with the true response and
kernel, with those estimated from the pair (:func:`gdd.estimate.estimate_degradation`), and with
the wrong default a user would take from the README (the Nikon D700 response, block average).
The table gives the relative errors of the estimates, ||est - true||_F / ||true||_F, the pair's
residual, the estimated offset, and PSNR / SAM against the reference.

Pansharpening: on ``pan_im4`` and the WorldView-3 full-resolution pair, the PAN band weights and
the MS MTF gain estimated from the pair (:func:`gdd.estimate.estimate_pan_degradation`), next to
the datasheet: the weights that best fit the PAN's spectral response by the MS bands' responses
(non-negative least squares on ``srf/satellite/WV3_Spectral_Responses.mat``), and the toolbox's
WV3 MTF gains. Weights are shown normalised to sum 1.

Takes about 20 minutes on one CPU thread. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import scipy.io
import torch
from scipy.optimize import nnls

from gdd.estimate import estimate_degradation, estimate_pan_degradation
from gdd.io import read_image, read_matrix, to_tensor
from gdd.metrics import summary
from gdd.operators import KernelDownsample
from gdd.problems import hs_problem, solve
from gdd.sensors import SENSORS
from gdd.simulate import CAVE_WAVELENGTHS, simulate_hs, simulation_kernel, spectral_response

HERE = Path(__file__).resolve().parent

#: (name, camera, sigma in high-res pixels or None for FWHM = factor, shift (rows, cols), SNR dB)
CASES = [
    ("D5100, FWHM 8, shift (1, 1)", "nikon-d5100", None, (1, 1), None),
    ("SD Merrill, sigma 2.5, shift (0, -1)", "sigma-sdmerill", 2.5, (0, -1), None),
    ("CIE 1931, sigma 4, shift (-1, 2)", "cie1931", 4.0, (-1, 2), None),
    ("D5100, FWHM 8, shift (1, 1), 35 dB noise", "nikon-d5100", None, (1, 1), 35.0),
]
FACTOR = 8
CROP = (slice(192, 320), slice(192, 320))


def _padded(k: np.ndarray, size: int) -> np.ndarray:
    m = (size - k.shape[0]) // 2
    return np.pad(k, m) if m >= 0 else k[-m:m, -m:m]


def _rel(est: np.ndarray, true: np.ndarray) -> float:
    return float(np.linalg.norm(est - true) / np.linalg.norm(true))


def _gdd(hsi: torch.Tensor, msi: torch.Tensor, srf: torch.Tensor, spatial: object, normalize: bool, gt: torch.Tensor):  # type: ignore[no-untyped-def]
    problem = hs_problem(hsi, msi, srf, FACTOR, spatial=spatial, normalize_srf=normalize)  # type: ignore[arg-type]
    t = time.perf_counter()
    result = solve(problem, device="cpu", budget="cpu", seed=0)
    m = summary(result.x.detach().clamp(0, 1), gt, ratio=FACTOR)
    return m["psnr"], m["sam"], time.perf_counter() - t


def hs_rows(data: Path) -> tuple[list[str], list[dict[str, object]]]:
    cube = read_image(data / "cave" / "balloons_ms")[CROP]
    default = read_matrix(data / "srf" / "nikon_d700_akhtar2014_400-700nm_10nm.csv").T
    lines = [
        "| case | R error | kernel error | offset true | offset est. | residual | PSNR true | PSNR est. | "
        "PSNR default | SAM true | SAM est. | SAM default | estimate s |",
        "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    records = []
    for name, camera, sigma, shift, snr in CASES:
        srf = spectral_response(camera, CAVE_WAVELENGTHS)
        case = simulate_hs(cube, factor=FACTOR, srf=srf, spatial="gaussian", sigma=sigma, shift=shift, snr_db=snr)
        hsi, msi, gt = to_tensor(case["hsi"]), to_tensor(case["msi"]), to_tensor(case["gt"])
        t = time.perf_counter()
        d = estimate_degradation(hsi, msi, FACTOR)
        seconds = time.perf_counter() - t
        true_k = simulation_kernel(FACTOR, spatial="gaussian", sigma=sigma, shift=shift)
        size = max(true_k.shape[0], d.kernel.shape[0])
        r_err = _rel(d.srf.double().numpy(), case["srf"])
        k_err = _rel(_padded(d.kernel.double().numpy(), size), _padded(true_k, size))
        runs = {
            "true": _gdd(
                hsi, msi, torch.from_numpy(case["srf"]), KernelDownsample(torch.from_numpy(true_k), FACTOR), False, gt
            ),
            "estimated": _gdd(hsi, msi, d.srf, KernelDownsample(d.kernel, FACTOR), False, gt),
            "default": _gdd(hsi, msi, torch.from_numpy(default), "block", True, gt),
        }
        lines.append(
            f"| {name} | {r_err:.3f} | {k_err:.3f} | ({shift[0]:+d}, {shift[1]:+d}) | "
            f"({d.offset[0]:+.2f}, {d.offset[1]:+.2f}) | {d.residual:.2%} | "
            + " | ".join(f"{runs[k][0]:.2f}" for k in ("true", "estimated", "default"))
            + " | "
            + " | ".join(f"{runs[k][1]:.2f}" for k in ("true", "estimated", "default"))
            + f" | {seconds:.1f} |"
        )
        records.append(
            {"case": name, "srf_error": r_err, "kernel_error": k_err, "offset": d.offset, "residual": d.residual,
             "psnr": {k: v[0] for k, v in runs.items()}, "sam": {k: v[1] for k, v in runs.items()},
             "fit_seconds": {k: v[2] for k, v in runs.items()}, "estimate_seconds": seconds}
        )  # fmt: skip
        print(lines[-1], flush=True)
    return lines, records


def _datasheet_weights(mat: Path) -> np.ndarray:
    """The non-negative weights of the MS responses that best fit the PAN response, summing to 1."""
    m = scipy.io.loadmat(mat)["Spectral_Responses_Matrix"].astype(np.float64)
    ms, pan = m[:-1], m[-1]
    w, _ = nnls(ms.T, pan)
    return w / w.sum()


def pan_rows(data: Path) -> tuple[list[str], list[dict[str, object]]]:
    sheet = _datasheet_weights(data / "srf" / "satellite" / "WV3_Spectral_Responses.mat")
    gains = SENSORS["WV3"][0]
    assert gains is not None
    pairs = {
        "pan_im4 (ratio 4)": (
            read_image(f"{data}/gdd_demo/pan_im4.mat:I_MS_input"),
            read_image(f"{data}/gdd_demo/pan_im4.mat:I_PAN_input"),
        ),
        "WorldView-3 full resolution (ratio 4)": (
            read_image(f"{data}/pansharpening/wv3_fullres_example.mat:I_MS_LR", bit_depth=11),
            read_image(f"{data}/pansharpening/wv3_fullres_example.mat:I_PAN", bit_depth=11),
        ),
    }
    lines = [
        "| pair | weights (bands 1-8, sum 1) | intercept | MTF gain | residual |",
        "|---|---|---:|---:|---:|",
        f"| datasheet WV3 | {', '.join(f'{w:.3f}' for w in sheet)} | | "
        f"{np.mean(gains):.3f} ({min(gains):.3f}-{max(gains):.3f}) | |",
    ]
    records: list[dict[str, object]] = [{"pair": "datasheet WV3", "weights": sheet.tolist(), "gnyq": list(gains)}]
    for name, (ms, pan) in pairs.items():
        d = estimate_pan_degradation(to_tensor(ms), to_tensor(pan), 4)
        w = d.weights.double().numpy()
        wn = w / w.sum()
        lines.append(
            f"| {name} | {', '.join(f'{v:.3f}' for v in wn)} | {d.intercept:.4f} | {d.gnyq:.3f} | {d.residual:.2%} |"
        )
        records.append({"pair": name, "weights": wn.tolist(), "weights_raw": w.tolist(), "intercept": d.intercept,
                        "gnyq": d.gnyq, "residual": d.residual})  # fmt: skip
        print(lines[-1], flush=True)
    return lines, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "blind-cpu.md")
    parser.add_argument("--skip-hs", action="store_true", help="only the pansharpening table")
    args = parser.parse_args()
    data = args.data.resolve()
    start = time.perf_counter()
    pan_lines, pan_records = pan_rows(data)
    hs_lines, hs_records = ([], []) if args.skip_hs else hs_rows(data)
    from provenance import commit

    meta = {
        "commit": commit(short=True),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s)",
        "torch": torch.__version__,
        "seed": 0,
        "factor": FACTOR,
        "crop": "balloons rows/cols 192:320",
        "budget": "cpu (600 steps, width 32)",
        "seconds": time.perf_counter() - start,
    }
    text = [
        "# Blind fusion: estimated degradations",
        "",
        f"`python benchmarks/blind.py`, commit {meta['commit']}, {meta['machine']}, seed 0; "
        f"took {meta['seconds'] / 60:.0f} min.",
        "",
        "## HS + RGB, CAVE balloons 128 x 128, factor 8, GDD CPU preset",
        "",
        "R error and kernel error: ||estimate - true||_F / ||true||_F. Offsets in high-resolution pixels "
        "(rows, columns). Residual: share of the degraded guide the estimate leaves unexplained. PSNR (dB) and "
        "SAM (degrees) of GDD with the true degradations, the estimated ones, and the wrong default "
        "(Nikon D700 response, block average).",
        "",
        *hs_lines,
        "",
        "## Pansharpening: PAN weights and MS MTF gain from the pair",
        "",
        "Datasheet weights: the non-negative combination of the WV3 MS responses that best fits its PAN response "
        "(srf/satellite/WV3_Spectral_Responses.mat); MTF gain: the toolbox's WV3 MS gains (mean and range). "
        "Estimated weights act on the files' values (for WV3, 11-bit digital numbers without radiometric "
        "calibration), so they need not match the spectral datasheet.",
        "",
        *pan_lines,
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text))
    args.out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "hs": hs_records, "pan": pan_records}, indent=2) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
