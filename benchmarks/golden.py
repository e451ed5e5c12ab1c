"""Fingerprints of a fixed set of runs: a change that should not change results is checked by them.

    python benchmarks/golden.py [--out benchmarks/results/golden-cpu.json] [--check FILE]

Runs, on small seeded synthetic data in a temporary folder and on the CPU with one thread:
``gdd hs``, ``gdd pan``, ``gdd flash`` (each with ``--json``), a tiled ``gdd pan`` with
``--json`` (per-tile and shared band mixture), ``gdd hs --srf estimate --blur estimate``,
``gdd batch`` of three jobs, ``gdd simulate`` + ``gdd bench`` of two methods, and the Python
API's ``solve`` and ``solve_many``. It records the SHA-256 of every result file and of every
JSON file with its times, versions and memory figures left out, and each command's exit code.
``--check FILE`` compares with a recorded run and lists what differs. Never run by pytest.
A record holds for the CPU kind it was made on: the bf16 arithmetic of the CPU defaults
rounds differently on another (an AMD EPYC's record and an Intel Xeon's with AMX differ in 13
of 38), so check against a record made on the same kind of CPU, at the commit before the change.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: JSON keys whose values depend on the machine or the moment, not on the results.
VOLATILE = ("seconds", "ms_per_iteration", "peak_memory", "versions", "time", "mtime")

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _smooth(rng: np.random.Generator, h: int, w: int, c: int) -> np.ndarray:
    """A smooth random image in [0, 1]: sums of a few low-frequency waves per band."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.zeros((h, w, c))
    for b in range(c):
        for _ in range(4):
            fy, fx, ph = [*rng.uniform(0.5, 4, 2).tolist(), rng.uniform(0, 6.3)]
            out[..., b] += np.sin(2 * np.pi * (fy * yy + fx * xx) + ph)
    out -= out.min()
    return (out / out.max()).astype(np.float32)


def make_data(d: Path) -> None:
    rng = np.random.default_rng(0)
    # HS: 40 x 40 x 8 at factor 4; a 3-band guide through a fixed response.
    hr = _smooth(rng, 40, 40, 8)
    srf = rng.uniform(0, 1, (3, 8))
    srf /= srf.sum(1, keepdims=True)
    np.save(d / "hs_gt.npy", hr)
    np.save(d / "hsi.npy", hr.reshape(10, 4, 10, 4, 8).mean((1, 3)).astype(np.float32))
    np.save(d / "rgb.npy", np.einsum("hwc,kc->hwk", hr, srf).astype(np.float32))
    np.savetxt(d / "srf.csv", srf.T, delimiter=",")
    # Pansharpening: 64 x 64 x 4, ratio 4.
    ms_hr = _smooth(rng, 64, 64, 4)
    np.save(d / "ms_gt.npy", ms_hr)
    np.save(d / "ms.npy", ms_hr.reshape(16, 4, 16, 4, 4).mean((1, 3)).astype(np.float32))
    pan = ms_hr @ np.array([0.3, 0.3, 0.2, 0.2]) + 0.02 * _smooth(rng, 64, 64, 1)[..., 0]
    np.save(d / "pan.npy", pan.astype(np.float32))
    # Flash: 32 x 32 x 3.
    clean = _smooth(rng, 32, 32, 3)
    np.save(d / "noisy.npy", (clean + 0.05 * rng.standard_normal(clean.shape)).astype(np.float32))
    np.save(d / "flash.npy", np.clip(clean * np.array([0.8, 0.9, 1.2]), 0, 1).astype(np.float32))


def _strip(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not any(word in k for word in VOLATILE)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def fingerprint(path: Path) -> str:
    """SHA-256 of a result: the bytes of an array file; a JSON or CSV file without its volatile fields."""
    if path.suffix == ".json":
        data = _strip(json.loads(path.read_text()))
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    if path.suffix == ".jsonl":
        rows = [_strip(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
        return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    if path.suffix == ".csv" and path.name.startswith("bench"):
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        rows = [{k: v for k, v in r.items() if not any(word in k for word in VOLATILE)} for r in rows]
        return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    if path.suffix == ".npy":
        return hashlib.sha256(np.load(path).tobytes()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


COMMON = ["--device", "cpu", "--iterations", "20", "--width", "8", "--quiet"]

COMMANDS: dict[str, list[str]] = {
    "hs": ["hs", "--hsi", "hsi.npy", "--guide", "rgb.npy", "--srf", "srf.csv", "--factor", "4",
           "--out", "hs.npy", "--json", "hs.json", "--reference", "hs_gt.npy", *COMMON],
    "pan": ["pan", "--ms", "ms.npy", "--pan", "pan.npy", "--ratio", "4", "--out", "pan_out.npy",
            "--json", "pan.json", *COMMON],
    "flash": ["flash", "--noisy", "noisy.npy", "--guide", "flash.npy", "--out", "flash_out.npy",
              "--json", "flash.json", *COMMON],
    "pan_tiled": ["pan", "--ms", "ms.npy", "--pan", "pan.npy", "--ratio", "4", "--out", "pan_tiled.npy",
                  "--json", "pan_tiled.json", "--tile", "32", "--overlap", "8", *COMMON],
    "pan_tiled_shared": ["pan", "--ms", "ms.npy", "--pan", "pan.npy", "--ratio", "4", "--out",
                         "pan_shared.npy", "--json", "pan_shared.json", "--tile", "32", "--overlap", "8",
                         "--tile-mixing", "shared", *COMMON],
    "hs_estimate": ["hs", "--hsi", "hsi.npy", "--guide", "rgb.npy", "--srf", "estimate", "--blur", "estimate",
                    "--factor", "4", "--out", "hs_est.npy", "--json", "hs_est.json", *COMMON],
    "batch": ["batch", "jobs.json", "--quiet"],
    "simulate": ["simulate", "hs_gt.npy", "--out", "case", "--factor", "4", "--srf", "srf_kc.npy"],
    "bench": ["bench", "case", "--methods", "gdd,gsa_hs", "--out", "bench", "--iterations", "20",
              "--device", "cpu", "--no-figures", "--quiet"],
}  # fmt: skip

JOBS = [
    {"task": "hs", "id": "j1", "hsi": "hsi.npy", "guide": "rgb.npy", "srf": "srf.csv", "factor": 4,
     "out": "batch/hs.npy", "iterations": 10, "width": 8, "device": "cpu"},
    {"task": "pan", "id": "j2", "ms": "ms.npy", "pan": "pan.npy", "ratio": 4, "out": "batch/pan.npy",
     "iterations": 10, "width": 8, "device": "cpu"},
    {"task": "flash", "id": "j3", "noisy": "noisy.npy", "guide": "flash.npy", "out": "batch/flash.npy",
     "iterations": 10, "width": 8, "device": "cpu"},
]  # fmt: skip

API = """
import hashlib, json, sys
import numpy as np, torch
from gdd.problems import hs_problem, pan_problem, solve, solve_many
torch.set_num_threads(1)
t = lambda a: torch.from_numpy(np.load(a)).permute(2, 0, 1)[None]
srf = torch.from_numpy(np.loadtxt("srf.csv", delimiter=",")).T
hs = hs_problem(t("hsi.npy"), t("rgb.npy"), srf, 4)
x = solve(hs, device="cpu", iterations=20, width=8).x
ms, pan = t("ms.npy"), torch.from_numpy(np.load("pan.npy"))[None, None]
probs = [pan_problem(ms[..., :8, :8], pan[..., :32, :32], 4), pan_problem(ms[..., 8:, 8:], pan[..., 32:, 32:], 4)]
many = solve_many(probs, device="cpu", iterations=20, width=8, seeds=[0, 1])
h = lambda v: hashlib.sha256(v.detach().cpu().numpy().tobytes()).hexdigest()
print(json.dumps({"solve": h(x), "solve_many": [h(r.x) for r in many]}))
"""


def run_all(work: Path) -> dict[str, object]:
    make_data(work)
    np.save(work / "srf_kc.npy", np.loadtxt(work / "srf.csv", delimiter=",").T)
    (work / "jobs.json").write_text(json.dumps(JOBS))
    record: dict[str, object] = {}
    for name, argv in COMMANDS.items():
        proc = subprocess.run(
            [sys.executable, "-m", "gdd", *argv], cwd=work, env=ENV, capture_output=True, text=True, check=False
        )
        record[f"{name}.exit"] = proc.returncode
        if proc.returncode:
            record[f"{name}.stderr"] = proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else []
    for path in sorted(work.rglob("*")):
        rel = path.relative_to(work).as_posix()
        if path.is_file() and path.suffix in (".npy", ".json", ".jsonl", ".csv") and not _is_input(rel):
            record[rel] = fingerprint(path)
    proc = subprocess.run([sys.executable, "-c", API], cwd=work, env=ENV, capture_output=True, text=True, check=False)
    record["api.exit"] = proc.returncode
    if proc.returncode == 0:
        record.update({f"api.{k}": v for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()})
    else:
        record["api.stderr"] = proc.stderr.strip().splitlines()[-1:]
    return record


def _is_input(rel: str) -> bool:
    inputs = {"hs_gt.npy", "hsi.npy", "rgb.npy", "srf.csv", "ms_gt.npy", "ms.npy", "pan.npy", "noisy.npy",
              "flash.npy", "srf_kc.npy", "jobs.json"}  # fmt: skip
    # The batch's done records hold the jobs' absolute paths: not results, and not the same in two folders.
    return rel in inputs or rel.startswith(".jobs.json.state/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write the record here (JSON)")
    parser.add_argument("--check", type=Path, help="compare with this record")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        record = run_all(Path(tmp))
    sys.path.insert(0, str(HERE))
    from provenance import commit as tree_commit

    commit = tree_commit(short=True)
    if args.out:
        args.out.write_text(json.dumps({"commit": commit, "fingerprints": record}, indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.out}")
    if args.check:
        old = json.loads(args.check.read_text())["fingerprints"]
        old = {k: v for k, v in old.items() if not _is_input(k)}
        keys = sorted(set(old) | set(record))
        diff = [k for k in keys if old.get(k) != record.get(k)]
        for k in diff:
            print(f"DIFFERS {k}: {old.get(k)!r} -> {record.get(k)!r}")
        print(f"{len(keys) - len(diff)} of {len(keys)} fingerprints the same")
        if diff:
            raise SystemExit(1)
    if not args.out and not args.check:
        print(json.dumps(record, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
