"""The check of the given HS degradations against ones estimated from the pair, case by case.

    python benchmarks/degradation_check.py [--data ../shared/data] [--out benchmarks/results/degradation-check-cpu.json]

``gdd hs`` compares the response and blur it is given with ones estimated from the pair, each
scored on the half of the pair the estimate was not fitted to
(:func:`gdd.estimate.check_degradations`), and fits under the estimated ones only where they
predict better. This runs the check alone on pairs made with :func:`gdd.simulate.simulate_hs`
from three CAVE scenes (rows/cols 192:320, 128 x 128 x 31, block average by 8): the bench's
four balloons cases (as told: the Nikon D700 response and the block average; the D5100 case
is told the D700 response in the D5100's channel order, the misregistered case is not told of
its shift) and, from feathers and jelly beans (scenes the bench does not use), a consistent
pair, one at 30 dB SNR, one made with the D5100 response and one shifted by a pixel; each scene
also at 30 dB SNR and shifted. It records
both residuals (the share of the degraded guide's variation left unexplained on the unseen
halves), what was chosen, the estimated offset and the seconds. No reference is used. Never run
by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _cases(data: Path) -> list[tuple[str, str, dict[str, Any], str]]:
    """(name, scene, simulate_hs options, told response): the response told is 'd700' or 'd700_rgb'."""
    out = []
    for scene in ("balloons", "feathers", "jelly_beans"):
        prefix = "cave128_x8" if scene == "balloons" else f"{scene}128_x8"
        out += [
            (prefix, scene, {"srf": "d700"}, "d700"),
            (f"{prefix}_snr30", scene, {"srf": "d700", "snr_db": 30.0}, "d700"),
            (f"{prefix}_d5100", scene, {"srf": "d5100"}, "d700_rgb"),
            (f"{prefix}_shift1", scene, {"srf": "d700", "shift": (1, 1)}, "d700"),
            (f"{prefix}_snr30_shift1", scene, {"srf": "d700", "snr_db": 30.0, "shift": (1, 1)}, "d700"),
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "degradation-check-cpu.json")
    args = parser.parse_args()
    from provenance import commit
    from speed import _cave_cube

    from gdd.estimate import check_degradations
    from gdd.io import read_matrix
    from gdd.operators import make_spatial
    from gdd.simulate import simulate_hs

    srf_dir = args.data / "srf"
    d700 = read_matrix(str(srf_dir / "nikon_d700_akhtar2014_400-700nm_10nm.csv"), name="srf")
    d5100 = read_matrix(str(srf_dir / "colour_nikon_d5100_npl_400-700nm_10nm.csv"), name="srf")
    d700, d5100 = (m if m.shape[0] == 3 else m.T for m in (d700, d5100))
    responses = {"d700": d700, "d5100": d5100, "d700_rgb": d700[::-1].copy()}  # the file's rows: blue first
    report: dict[str, Any] = {"commit": commit(), "torch": torch.__version__, "cases": {}}
    for name, scene, options, told in _cases(args.data):
        cube = _cave_cube(args.data, scene, slice(192, 320))
        if cube is None:
            raise SystemExit(f"{args.data / 'cave' / (scene + '_ms')} not found")
        opts = {**options, "srf": responses[options["srf"]]}
        case = simulate_hs(cube[0].permute(1, 2, 0).double().numpy(), factor=8, **opts)
        hsi, msi = (torch.from_numpy(np.ascontiguousarray(case[k])).permute(2, 0, 1)[None] for k in ("hsi", "msi"))
        srf = torch.from_numpy(responses[told].copy()).float()
        srf = srf / srf.sum(1, keepdim=True)
        start = time.perf_counter()
        found = check_degradations(hsi, msi, 8, srf, make_spatial("block", 8))
        seconds = time.perf_counter() - start
        row = {
            "given": found.given,
            "estimated": found.estimated,
            "chosen": "estimated" if found.use_estimated else "given",
            "offset": None if found.degradation is None else list(found.degradation.offset),
            "seconds": seconds,
        }
        report["cases"][name] = row
        offset = "" if row["offset"] is None else " offset ({:+.2f}, {:+.2f})".format(*row["offset"])
        print(f"{name}: given {found.given:.2e}, estimated {found.estimated:.2e} -> {row['chosen']}{offset}"
              f" ({seconds:.1f} s)", flush=True)  # fmt: skip
        args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
