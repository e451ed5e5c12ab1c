"""Rule A's pairs fitted to the end: the default's result with ``--average-at-noise`` (or without), going on included.

    python benchmarks/rule_a_final.py [--data ../shared/data] [--seed 0] [--pairs NAME,...]
        [--without] [--out benchmarks/results/rule-a-final-cpu.json]

``noise_rules.py`` scores rule A on the candidates as fitted. Here the default is run to its
end with the preset's ``average_at_noise`` (rule A; ``--without``: the default as it is) on the
pairs where rule A changed the pick, to compare with the runs' results of
``noise-rules-more-cpu.json`` and ``noise-rules-blind-cpu.json``. The pairs are named as there:
``<scene>_<first row>_snr<level>`` (crops of 128 rows and columns) or ``<scene>_<camera>_blind``.
CPU preset. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
PAIRS = "balloons_0_snr30,balloons_384_snr30,jelly_beans_d5100_blind,jelly_beans_cie1931_blind"


def make(data: Path, name: str, work: Path) -> tuple[Any, Any]:
    """The pair ``name`` and its reference, as ``noise_rules.py`` makes it."""
    from hs_alternatives import _blind_pair
    from noise_rules import pair

    if name.endswith("_blind"):
        return _blind_pair(data, name, work)
    scene, first, level = name.rsplit("_", 2)
    start = int(first)
    return pair(data, scene, float(level.removeprefix("snr")), slice(start, start + 128))


def main() -> None:
    from provenance import commit, machine

    from gdd.metrics import psnr, sam
    from gdd.problems import solve

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", default=PAIRS)
    parser.add_argument("--without", action="store_true", help="the default as it is, without rule A")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "rule-a-final-cpu.json")
    args = parser.parse_args()
    data = args.data.resolve()
    out: dict[str, object] = {
        "commit": commit(), "machine": machine(), "seed": args.seed, "average_at_noise": not args.without,
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name in filter(None, args.pairs.split(",")):
            problem, reference = make(data, name, Path(tmp))
            result = solve(problem, device="cpu", seed=args.seed, average_at_noise=not args.without)
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
