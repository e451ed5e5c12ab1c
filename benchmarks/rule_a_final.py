"""Rule A's pairs fitted to the end: the default's result, going on included, where rule A changed the pick.

    python benchmarks/rule_a_final.py [--data ../shared/data] [--out benchmarks/results/rule-a-final-cpu.json]

``noise_rules.py`` scored rule A on the candidates as fitted. Here the default (with rule A, on
this code) is run to its end on the four pairs where it changed the pick (two balloons crops at
30 dB, the two blind jelly beans pairs), to compare with the ``default (going on)`` column of
``noise-rules-more-cpu.json`` and ``noise-rules-blind-cpu.json``. CPU preset, seed 0. Never run
by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    from hs_alternatives import _blind_pair
    from noise_rules import pair
    from provenance import commit, machine

    from gdd.metrics import psnr, sam
    from gdd.problems import solve

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "rule-a-final-cpu.json")
    args = parser.parse_args()
    data = args.data.resolve()
    out: dict[str, object] = {"commit": commit(), "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        jobs = {
            "balloons_0_snr30": lambda: pair(data, "balloons", 30.0, slice(0, 128)),
            "balloons_384_snr30": lambda: pair(data, "balloons", 30.0, slice(384, 512)),
            "jelly_beans_d5100_blind": lambda: _blind_pair(data, "jelly_beans_d5100_blind", Path(tmp)),
            "jelly_beans_cie1931_blind": lambda: _blind_pair(data, "jelly_beans_cie1931_blind", Path(tmp)),
        }
        for name, make in jobs.items():
            problem, reference = make()
            result = solve(problem, device="cpu", seed=0)
            x = result.x.float().clamp(0, 1)
            out[name] = {
                "psnr": psnr(x, reference),
                "sam": sam(x, reference),
                "chosen": result.choice.get("chosen"),
                "at_noise": result.choice.get("at_noise"),
            }
            print(name, out[name], flush=True)
            args.out.write_text(json.dumps(out, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
