"""The README's ``gdd bench`` tables: GDD (default and authors'), DIP and the classic methods.

    python benchmarks/bench_cases.py [--data ../shared/data] [--device cpu] [--out benchmarks/results/bench-cpu]
        [--budget authors|cpu] [--cases cave128_x8,pan_im4,...] [--classic-only | --methods gdd,exp,...] [--list]
        [--scene balloons|feathers|jelly_beans] [--crop ROW,COL]

Cases, chosen to test that GDD is never worse than the classic methods (made with ``gdd simulate``
where a reference has to be degraded; ``--list`` prints them):

1. ``cave128_x8``: CAVE balloons rows/cols 192:320 (the shared 128 x 128 fixture), block average
   by 8, RGB by the Nikon D700 response (Akhtar et al.);
2. ``cave128_x8_snr30``: the same with white Gaussian noise at 30 dB SNR per band on both inputs
   (``gdd simulate --snr-db 30 --seed 0``);
3. ``cave128_x8_d5100``: the same, but the RGB guide is made with the Nikon D5100 response
   (colour-science's NPL measurement) while the case tells the fusion the D700 response: the
   case's ``srf_told.csv`` is the D700 matrix with its rows (blue, green, red in the published
   file) put in the D5100's channel order (red, green, blue) and normalised to sum 1, so that
   only the camera differs, not the channel order; ``srf.csv`` keeps the D5100 matrix that made
   the guide, and ``case.json`` says so under ``srf_mismatch``;
4. ``cave128_x8_shift1``: the same, the HSI misregistered by one high-resolution pixel down and
   right (``gdd simulate --shift 1,1``), and the fusion not told: the kernel that made the HSI is
   removed from the case, so every method assumes plain block averaging (``shift_told: false``);
5. ``cave512_x32``: the whole 512 x 512 balloons scene, block average by 32, D700 response;
6. ``pan_im4``: the authors' pansharpening demo as it comes (I_MS_input, I_PAN_input, I_MS_GT);
7. ``cave_pan_outside``: pansharpening where part of the PAN's light has no MS band. From the
   whole CAVE balloons cube (31 bands, 400-700 nm): an MS image of three WorldView-2 bands
   (green, yellow, red: rows 3-5 of ``srf/satellite/WV2_Spectral_Responses.mat`` sampled at the
   cube's band centres and normalised to sum 1; together they see about 510-690 nm), block
   averaged by 4 to 128 x 128 x 3 (an MS detector four PAN pixels wide), and a PAN of a flat
   response over all 31 bands (400-700 nm) at 512 x 512, so the light of 400-500 nm and 700 nm
   (12 of the 31 bands, 39 % of the PAN's response) reaches the PAN but no MS band. Both are
   written as .npy into the work folder and degraded by ``gdd simulate MS.npy --pan PAN.npy
   --factor 4`` (Wald protocol, gains 0.29 / 0.15): 32 x 32 MS, 128 x 128 PAN, the 128 x 128 MS
   as the reference;
8. ``landsat7_rr``: the Landsat-7 ETM+ fixture (ratio 2) simulated at reduced resolution (Wald
   protocol: MTF-matched filters, gains 0.29 MS / 0.15 PAN), its MS as the reference;
9. ``landsat7_fr``: the Landsat-7 fixture at full resolution (no reference: D_lambda, D_s, QNR,
   HQNR);
10. ``wv3_fr``: the real WorldView-3 full-resolution pair ``wv3_fullres_example.mat`` (I_MS_LR
    32 x 32 x 8 and I_PAN 128 x 128, 11-bit digital numbers read with ``bit_depth: 11``, ratio
    4; no reference). No sensor is named, as for landsat7_fr: GDD and the indices use the
    default MTF gains.

The HS cases run GDD, the authors' GDD, EXP (bicubic) and the HS classics (GSA-HS, SFIM-HS,
GLP-HS, CNMF); the pan cases GDD, the authors' GDD, EXP and the pansharpening classics. DIP (no
guide) runs on cave128_x8 and the two Landsat cases, as before. ``--classic-only`` leaves out
GDD, the authors' GDD and DIP (a quick check that every case is built right); ``--methods`` keeps
only the named methods of each case's list.

``--scene`` makes the CAVE cases (1-5 and 7) from another CAVE scene of the data set, and
``--crop ROW,COL`` takes the 128 x 128 crop of cases 1-4 from there (default 192,192, the
fixture's rows and columns): the same bench on scenes the defaults were never chosen on. The
crop is written as float32 (with its wavelengths) into the work folder and made into each case by the same
``gdd simulate`` command.

GDD runs with its defaults for the device (the CPU preset on a CPU), the authors' GDD with their
settings at the same number of iterations. Rerunning resumes: only missing rows run. Writes
bench.md, bench.csv, rows.jsonl and a figure per case to --out, the commands to commands.txt,
and summary.md (see :func:`summary`). Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent

HS_METHODS = ("gdd", "gdd_authors", "exp", "gsa_hs", "sfim_hs", "glp_hs", "cnmf")
PAN_METHODS = ("gdd", "gdd_authors", "exp", "brovey", "pca", "gs", "gsa", "mtf_glp", "mtf_glp_hpm", "sfim")
#: GDD and its ablations: neither "classic" nor bicubic in the summary.
OWN = frozenset({"gdd", "gdd_authors", "dip"})
#: The summary's threshold on the default's oracle gap (dB).
GAP_DB = 0.3

D700 = "nikon_d700_akhtar2014_400-700nm_10nm.csv"
D5100 = "colour_nikon_d5100_npl_400-700nm_10nm.csv"
CAVE_NM = np.arange(400.0, 701.0, 10.0)
#: The first row and column of the ``cave128`` cases' crop: the shared 128 x 128 fixture's.
CROP = (192, 192)
#: The CAVE scenes of the development data set (``--scene``); the bench's cases use balloons.
SCENES = ("balloons", "feathers", "jelly_beans")


def parse_crop(text: str) -> tuple[int, int]:
    """``--crop ROW,COL``: the first row and column of a 128 x 128 crop of a 512 x 512 scene.

    Example:
        >>> parse_crop("64,256")
        (64, 256)
    """
    try:
        r, c = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--crop {text!r}: expected ROW,COL, e.g. 64,256") from None
    if not (0 <= r <= 384 and 0 <= c <= 384):
        raise ValueError(f"--crop {text!r}: a 128 x 128 crop of a 512 x 512 scene starts at 0 to 384")
    return r, c


# --------------------------------------------------------------------------- building the cases


@dataclass
class _Work:
    """Where cases are built, and the log of what was run (``$DATA`` and ``$WORK`` for the folders)."""

    data: Path
    work: Path
    log: list[str]
    scene: str = "balloons"
    """The CAVE scene the CAVE cases are made from (``$DATA/cave/<scene>_ms``)."""
    crop: tuple[int, int] = CROP
    """The first row and column of the 128 x 128 crop of the ``cave128`` cases."""

    def gdd(self, *argv: str | Path) -> None:
        from gdd.cli import main as gdd

        args = [str(a) for a in argv]
        text = " ".join(args).replace(str(self.data), "$DATA").replace(str(self.work), "$WORK")
        text = text.replace(str(HERE.parent) + "/", "")
        # An --out outside the repository is named $OUT (no path of the machine it ran on).
        self.log.append("gdd " + " ".join("$OUT" if Path(a).is_absolute() else a for a in text.split(" ")))
        code = gdd(args)
        if code:
            raise SystemExit(f"gdd {' '.join(args)} failed with exit code {code}")

    def note(self, text: str) -> None:
        self.log.append("# " + text)


def _edit_case(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = folder / "case.json"
    case = json.loads(path.read_text())
    change(case)
    path.write_text(json.dumps(case, indent=2) + "\n")


def _scene_cube(w: _Work) -> np.ndarray:
    """The whole CAVE scene the CAVE cases are made from: 512 x 512 x 31 in [0, 1], 400-700 nm."""
    from gdd.io import read_image

    return read_image(w.data / "cave" / f"{w.scene}_ms", name="reference")


def _cave128(w: _Work, name: str, *extra: str, srf: str = D700) -> Path:
    if (w.scene, w.crop) == ("balloons", CROP):
        source = f"{w.data / 'fixtures' / 'cave_balloons_crop128.npz'}:hsi"  # the same 16-bit pixels
        depth: tuple[str, ...] = ("--bit-depth", "16")
    else:
        r, c = w.crop
        cube = _scene_cube(w)[r : r + 128, c : c + 128]
        path = w.work / f"{w.scene}_{r}_{c}.npz"
        if not path.exists():
            np.savez(path, hsi=cube, wavelengths_nm=CAVE_NM)  # the fixture's layout
            w.note(
                f"$WORK/{path.name}: hsi = {w.scene}_ms rows {r}:{r + 128}, columns {c}:{c + 128} (float32 in "
                "[0, 1]), wavelengths_nm = 400:10:700"
            )
        source, depth = f"{path}:hsi", ()
    srf_path = w.data / "srf" / srf
    w.gdd("simulate", source, *depth, "--srf", srf_path, "--factor", "8", *extra,
          "--out", w.work / name)  # fmt: skip
    return w.work / name


def build_cave128_x8(w: _Work, name: str) -> Path:
    return _cave128(w, name)


def build_cave128_x8_snr30(w: _Work, name: str) -> Path:
    return _cave128(w, name, "--snr-db", "30", "--seed", "0")


def build_cave128_x8_d5100(w: _Work, name: str) -> Path:
    folder = _cave128(w, name, srf=D5100)
    from gdd.io import read_matrix

    told = read_matrix(w.data / "srf" / D700, name="srf").T  # (3, 31): blue, green, red
    told = told[::-1] / told[::-1].sum(axis=1, keepdims=True)  # the D5100's order: red, green, blue
    made = read_matrix(folder / "srf.csv", name="srf")
    peaks = [int(CAVE_NM[np.argmax(r)]) for r in made], [int(CAVE_NM[np.argmax(r)]) for r in told]
    if peaks[0][0] < peaks[0][2] or peaks[1][0] < peaks[1][2]:  # red must peak above blue in both
        raise SystemExit(f"{name}: unexpected channel order of the responses (peaks {peaks})")
    header = f"the Nikon D700 response ({D700}) told to the fusion: rows red, green, blue, each summing to 1"
    np.savetxt(folder / "srf_told.csv", told, delimiter=",", fmt="%.17g", header=header)

    def tell_d700(case: dict[str, Any]) -> None:
        case["inputs"]["srf"] = "srf_told.csv"
        case["srf_mismatch"] = {
            "made_with": D5100,
            "made_with_file": "srf.csv",
            "told": D700,
            "told_file": "srf_told.csv",
            "note": "guide made with the D5100 response; the fusion is given the D700 one, its rows "
            "reordered to the D5100's channel order (red, green, blue) and normalised",
        }

    _edit_case(folder, tell_d700)
    w.note(f"{name}: case.json's srf input set to srf_told.csv (the D700 response, rows red, green, blue)")
    return folder


def build_cave128_x8_shift1(w: _Work, name: str) -> Path:
    folder = _cave128(w, name, "--shift", "1,1")

    def untold(case: dict[str, Any]) -> None:
        if case["inputs"].pop("kernel", None) is None:
            raise SystemExit(f"{name}: gdd simulate --shift wrote no kernel input")
        case["shift_told"] = False
        case["note"] = "HSI misregistered by the shift; kernel.npy removed, so the fusion assumes block averaging"

    _edit_case(folder, untold)
    (folder / "kernel.npy").unlink()
    w.note(f"{name}: kernel.npy and case.json's kernel input removed (the fusion is not told of the shift)")
    return folder


def build_cave512_x32(w: _Work, name: str) -> Path:
    w.gdd("simulate", w.data / "cave" / f"{w.scene}_ms", "--srf", w.data / "srf" / D700, "--factor", "32",
          "--out", w.work / name)  # fmt: skip
    return w.work / name


def _case_json(w: _Work, name: str, case: dict[str, Any]) -> Path:
    folder = w.work / name
    folder.mkdir()
    (folder / "case.json").write_text(json.dumps({"gdd_case": 1, **case}))
    return folder


def build_pan_im4(w: _Work, name: str) -> Path:
    mat = w.data / "gdd_demo" / "pan_im4.mat"
    return _case_json(w, name, {
        "task": "pan", "ratio": 4, "source": "pan_im4.mat",
        "inputs": {"ms": f"{mat}:I_MS_input", "pan": f"{mat}:I_PAN_input"}, "reference": f"{mat}:I_MS_GT",
    })  # fmt: skip


def build_landsat7_rr(w: _Work, name: str) -> Path:
    landsat = w.data / "fixtures" / "landsat7_fusebox2_crop.npz"
    w.gdd("simulate", f"{landsat}:ms", "--pan", f"{landsat}:pan", "--bit-depth", "8", "--factor", "2",
          "--out", w.work / name)  # fmt: skip
    return w.work / name


def build_landsat7_fr(w: _Work, name: str) -> Path:
    landsat = w.data / "fixtures" / "landsat7_fusebox2_crop.npz"
    return _case_json(w, name, {
        "task": "pan", "ratio": 2, "source": "landsat7_fusebox2_crop.npz",
        "inputs": {"ms": f"{landsat}:ms", "pan": f"{landsat}:pan"}, "bit_depth": 8,
    })  # fmt: skip


def build_wv3_fr(w: _Work, name: str) -> Path:
    mat = w.data / "pansharpening" / "wv3_fullres_example.mat"
    return _case_json(w, name, {
        "task": "pan", "ratio": 4, "source": "wv3_fullres_example.mat",
        "inputs": {"ms": f"{mat}:I_MS_LR", "pan": f"{mat}:I_PAN"}, "bit_depth": 11,
    })  # fmt: skip


def pan_outside_inputs(cube: np.ndarray, ms_srf: np.ndarray, *, factor: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The MS image (block average by ``factor`` of ``cube @ ms_srf.T``) and the flat-response PAN of a cube.

    ``cube`` is H x W x C in [0, 1] with H and W multiples of ``factor``; ``ms_srf`` (K, C) with
    rows summing to 1. Returns (H/factor, W/factor, K) and (H, W), float32 in [0, 1].
    """
    h, w = cube.shape[:2]
    ms = np.einsum("hwc,kc->hwk", cube, ms_srf)
    ms = ms.reshape(h // factor, factor, w // factor, factor, -1).mean(axis=(1, 3))
    pan = cube.mean(axis=2)
    return np.clip(ms, 0, 1).astype(np.float32), np.clip(pan, 0, 1).astype(np.float32)


def build_cave_pan_outside(w: _Work, name: str) -> Path:
    import scipy.io

    from gdd.simulate import resample_response

    cube = _scene_cube(w)  # 512 x 512 x 31, 400-700 nm
    sheet = scipy.io.loadmat(w.data / "srf" / "satellite" / "WV2_Spectral_Responses.mat")
    rows = resample_response(sheet["wavelength_nm"].ravel(), sheet["Spectral_Responses_Matrix"], CAVE_NM)[2:5]
    ms_srf = rows / rows.sum(axis=1, keepdims=True)  # WV2 green, yellow, red
    seen = ms_srf.max(axis=0) > 0.01 * ms_srf.max()
    outside = float(1 - seen.mean())  # the flat PAN's share of light that no MS band sees
    ms, pan = pan_outside_inputs(cube, ms_srf, factor=4)
    src = w.work / f"{name}_src"
    src.mkdir()
    np.save(src / "ms.npy", ms)
    np.save(src / "pan.npy", pan)
    w.note(
        f"{name}: $WORK/{name}_src/ms.npy = {w.scene}_ms @ WV2 rows 3-5 (green, yellow, red; normalised), "
        "block average by 4 (128 x 128 x 3); pan.npy = the mean of the 31 bands (512 x 512)"
    )
    w.gdd("simulate", src / "ms.npy", "--pan", src / "pan.npy", "--factor", "4", "--out", w.work / name)

    def describe(case: dict[str, Any]) -> None:
        case["source"] = f"{w.scene}_ms"
        case["made"] = {
            "ms": f"CAVE {w.scene} @ WV2 green, yellow, red (rows 3-5 of WV2_Spectral_Responses.mat at "
            "400:10:700 nm, rows normalised), block average by 4",
            "pan": f"CAVE {w.scene}, flat response over its 31 bands (400-700 nm), full 512 x 512",
            "ms_nm": [float(CAVE_NM[seen].min()), float(CAVE_NM[seen].max())],
            "pan_nm": [400.0, 700.0],
            "pan_outside_share": round(outside, 4),
        }

    _edit_case(w.work / name, describe)
    return w.work / name


@dataclass(frozen=True)
class CaseSpec:
    """A case of the benchmark: how it is built and which methods run on it."""

    name: str
    task: str
    about: str
    build: Callable[[_Work, str], Path]
    extra: tuple[str, ...] = ()

    @property
    def methods(self) -> tuple[str, ...]:
        return (*(HS_METHODS if self.task == "hs" else PAN_METHODS), *self.extra)


CASES: dict[str, CaseSpec] = {
    c.name: c
    for c in (
        CaseSpec("cave128_x8", "hs", "CAVE balloons 128 x 128, block x8, D700 RGB", build_cave128_x8, ("dip",)),
        CaseSpec("cave128_x8_snr30", "hs", "cave128_x8, 30 dB SNR noise on both inputs", build_cave128_x8_snr30),
        CaseSpec("cave128_x8_d5100", "hs", "cave128_x8, guide by the D5100, fusion told D700", build_cave128_x8_d5100),
        CaseSpec("cave128_x8_shift1", "hs", "cave128_x8, HSI shifted (1, 1), fusion not told", build_cave128_x8_shift1),
        CaseSpec("cave512_x32", "hs", "CAVE balloons 512 x 512, block x32, D700 RGB", build_cave512_x32),
        CaseSpec("pan_im4", "pan", "the GDD authors' pansharpening demo, ratio 4", build_pan_im4),
        CaseSpec("cave_pan_outside", "pan", "CAVE, MS 510-690 nm, PAN 400-700 nm, x4", build_cave_pan_outside),
        CaseSpec("landsat7_rr", "pan", "Landsat-7 ETM+ fixture, reduced resolution, x2", build_landsat7_rr, ("dip",)),
        CaseSpec("landsat7_fr", "pan", "Landsat-7 ETM+ fixture, full resolution, x2", build_landsat7_fr, ("dip",)),
        CaseSpec("wv3_fr", "pan", "WorldView-3 pair, full resolution, 11-bit, x4", build_wv3_fr),
    )
}


def plan(
    names: Iterable[str], *, classic_only: bool = False, only: Iterable[str] | None = None
) -> list[tuple[list[str], list[str]]]:
    """The ``gdd bench`` calls: (cases, methods), consecutive cases with the same methods together.

    Raises:
        ValueError: an unknown case, or a method of ``only`` that none of the cases runs.
    """
    chosen = list(names)
    unknown = [n for n in chosen if n not in CASES]
    if unknown:
        raise ValueError(f"unknown case {unknown[0]!r}; known: {', '.join(CASES)}")
    keep = None if only is None else list(only)
    every = {m for n in chosen for m in CASES[n].methods}
    if keep is not None and (missing := [m for m in keep if m not in every]):
        raise ValueError(f"no chosen case runs {missing[0]!r}; they run {', '.join(sorted(every))}")
    calls: list[tuple[list[str], list[str]]] = []
    for n in chosen:
        methods = [m for m in CASES[n].methods if not (classic_only and m in OWN) and (keep is None or m in keep)]
        if not methods:
            continue
        if calls and calls[-1][1] == methods:
            calls[-1][0].append(n)
        else:
            calls.append(([n], methods))
    return calls


# --------------------------------------------------------------------------- the summary


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``rows.jsonl`` (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _extra(row: Mapping[str, Any], key: str, fields: tuple[str, ...]) -> dict[str, Any] | None:
    """``row["info"][key]`` (or ``row[key]``, where bench spreads its info) when a dict with ``fields``."""
    for where in (row.get("info"), row):
        if isinstance(where, Mapping) and isinstance(where.get(key), Mapping):
            found = where[key]
            if all(f in found for f in fields):
                return dict(found)
    return None


def _metric(by: Mapping[str, Mapping[str, Any]], method: str | None, key: str) -> float | None:
    if method is None or method not in by:
        return None
    metrics = by[method].get("metrics")
    return _number(metrics.get(key)) if isinstance(metrics, Mapping) else None


def _best_classic(by: Mapping[str, Mapping[str, Any]], key: str) -> str | None:
    scored = {m: v for m in by if m not in OWN and m != "exp" and (v := _metric(by, m, key)) is not None}
    return max(scored, key=scored.__getitem__) if scored else None  # a tie: the first in the rows' order


def _pair(by: Mapping[str, Mapping[str, Any]], method: str | None, keys: tuple[str, str], digits: int) -> str:
    a, b = (_metric(by, method, k) for k in keys)
    if a is None or b is None:
        return "n/a"
    return f"{a:.{digits}f} / {b:.{digits}f}"


def _yes(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "no")


def _at_least(
    by: Mapping[str, Mapping[str, Any]], rival: str | None, keys: Mapping[str, bool], digits: int
) -> bool | None:
    """Whether the default is at least as good as ``rival`` on every key (True: higher is better), as printed."""
    pairs = [(_metric(by, "gdd", k), _metric(by, rival, k), up) for k, up in keys.items()]
    if any(a is None or b is None for a, b, _ in pairs):
        return None
    return all(
        (round(a, digits) >= round(b, digits)) if up else (round(a, digits) <= round(b, digits)) for a, b, up in pairs
    )


def _by_case(rows: Iterable[Mapping[str, Any]], protocol: str) -> dict[str, dict[str, Mapping[str, Any]]]:
    cases: dict[str, dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        if r.get("protocol") == protocol and isinstance(r.get("metrics"), Mapping) and "case" in r and "method" in r:
            cases.setdefault(str(r["case"]), {})[str(r["method"])] = r  # a later row replaces an earlier one
    return cases


def _label(by: Mapping[str, Mapping[str, Any]], method: str) -> str:
    return str(by[method].get("label", method))


def summary(rows: Iterable[Mapping[str, Any]]) -> str:
    """The summary tables of bench rows (pure: rows in, Markdown out), one row per case.

    Reduced resolution, PSNR (dB) / SAM (degrees): bicubic (EXP); the best classic method by
    PSNR (every method but EXP, GDD, the authors' GDD and DIP), named; the authors' GDD; the
    default GDD; the default's oracle gap (``info.oracle.gap_db``: the best PSNR along its run
    minus the PSNR of the estimate it returned); how far it moved from its classic start
    (``info.start.moved_db``, with the start's name); and yes/no: the default >= the best classic
    on PSNR and SAM (as printed, 2 decimals), the default >= the authors' GDD on PSNR, the oracle
    gap <= 0.3 dB. Full resolution, QNR / HQNR: the same methods (the best classic by QNR) and
    yes/no: the default >= the best classic on QNR and HQNR (4 decimals), >= the authors' on QNR.
    Absent rows or fields print as n/a. The oracle and start fields are read from
    ``row["info"]`` or, where ``gdd bench`` spreads its info into the row, from the row itself.
    """
    rows = list(rows)
    out = []
    reduced = _by_case(rows, "reduced")
    if reduced:
        out += [
            "Reduced resolution: PSNR (dB) / SAM (degrees) against the reference. Oracle gap: the best PSNR "
            "along the default's run minus the PSNR of its result; moved: how far it moved from its classic start.\n",
            "| case | bicubic | best classic | GDD (authors) | GDD (default) | oracle gap (dB) | moved (dB) "
            f"| >= classic (PSNR, SAM) | >= authors (PSNR) | gap <= {GAP_DB} dB |",
            "|---|---:|---:|---:|---:|---:|---:|:---:|:---:|:---:|",
        ]
        for case, by in reduced.items():
            best = _best_classic(by, "psnr")
            keys = ("psnr", "sam")
            cells = [_pair(by, "exp", keys, 2)]
            cells.append("n/a" if best is None else f"{_label(by, best)}: {_pair(by, best, keys, 2)}")
            cells += [_pair(by, "gdd_authors", keys, 2), _pair(by, "gdd", keys, 2)]
            oracle = _extra(by["gdd"], "oracle", ("gap_db",)) if "gdd" in by else None
            gap = _number(oracle["gap_db"]) if oracle else None
            cells.append("n/a" if gap is None else f"{gap:.2f}")
            start = _extra(by["gdd"], "start", ("moved_db",)) if "gdd" in by else None
            moved = _number(start["moved_db"]) if start else None
            origin = str(start.get("name") or "") if start else ""
            name = f" (from {_label(by, origin) if origin in by else origin})" if origin else ""
            cells.append("n/a" if moved is None else f"{moved:+.2f}{name}")
            cells.append(_yes(_at_least(by, best, {"psnr": True, "sam": False}, 2)))
            cells.append(_yes(_at_least(by, "gdd_authors", {"psnr": True}, 2)))
            cells.append(_yes(None if gap is None else round(gap, 2) <= GAP_DB))
            out.append(f"| {case} | {' | '.join(cells)} |")
    full = _by_case(rows, "full")
    if full:
        out += [
            *([""] if out else []),
            "Full resolution (no reference): QNR / HQNR, higher is better.\n",
            "| case | bicubic | best classic | GDD (authors) | GDD (default) | >= classic (QNR, HQNR) "
            "| >= authors (QNR) |",
            "|---|---:|---:|---:|---:|:---:|:---:|",
        ]
        for case, by in full.items():
            best = _best_classic(by, "qnr")
            keys = ("qnr", "hqnr")
            cells = [_pair(by, "exp", keys, 4)]
            cells.append("n/a" if best is None else f"{_label(by, best)}: {_pair(by, best, keys, 4)}")
            cells += [_pair(by, "gdd_authors", keys, 4), _pair(by, "gdd", keys, 4)]
            cells.append(_yes(_at_least(by, best, {"qnr": True, "hqnr": True}, 4)))
            cells.append(_yes(_at_least(by, "gdd_authors", {"qnr": True}, 4)))
            out.append(f"| {case} | {' | '.join(cells)} |")
    return "\n".join(out) + "\n" if out else "No rows.\n"


# --------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, help="default: results/bench-DEVICE[-BUDGET][-classic]")
    parser.add_argument("--resume", action="store_true", help="(always on: only missing rows run)")
    parser.add_argument("--budget", choices=["authors", "cpu"], help="GDD's preset (default: the device's)")
    parser.add_argument("--cases", help=f"only these cases, e.g. landsat7_rr,pan_im4 (default: all {len(CASES)})")
    parser.add_argument("--list", action="store_true", help="print the cases and exit")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--classic-only", action="store_true", help="leave out GDD, the authors' GDD and DIP")
    which.add_argument("--methods", help="only these of each case's methods, e.g. gdd,exp")
    parser.add_argument(
        "--scene",
        default="balloons",
        choices=SCENES,
        help="the CAVE scene of the CAVE cases (default balloons); another scene measures the defaults on data "
        "they were not chosen on",
    )
    parser.add_argument(
        "--crop", default="192,192", help="ROW,COL: where the cave128 cases' 128 x 128 crop starts (default 192,192)"
    )
    args = parser.parse_args(argv)
    try:
        crop = parse_crop(args.crop)
    except ValueError as exc:
        parser.error(str(exc))
    if args.list:
        for spec in CASES.values():
            print(f"{spec.name:<20} {spec.task:<4} {spec.about}")
        return
    names = [n.strip() for n in args.cases.split(",") if n.strip()] if args.cases else list(CASES)
    only = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    try:
        calls = plan(names, classic_only=args.classic_only, only=only)
    except ValueError as exc:
        parser.error(str(exc))
    suffix = (f"-{args.budget}" if args.budget else "") + ("-classic" if args.classic_only else "")
    out = args.out or HERE / "results" / f"bench-{args.device}{suffix}"
    data = args.data.resolve()
    log: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        w = _Work(data, Path(tmp), log, args.scene, crop)
        if (args.scene, crop) != ("balloons", CROP):
            w.note(f"the CAVE cases made from CAVE {args.scene} (the cave128 cases: rows and columns from {crop})")
        built = {n: CASES[n].build(w, n) for case_names, _ in calls for n in case_names}
        budget = ["--budget", args.budget] if args.budget else []
        for case_names, methods in calls:
            w.gdd("bench", *(built[n] for n in case_names), "--methods", ",".join(methods), "--out", out,
                  "--device", args.device, "--seed", "0", "--quiet", "--resume", *budget)  # fmt: skip
    (out / "summary.md").write_text(summary(read_rows(out / "rows.jsonl")))
    from provenance import commit as tree_commit

    commit = tree_commit()
    (out / "commands.txt").write_text(
        f"# gdd commit {commit}, python {sys.version.split()[0]}; $DATA = ../shared/data, "
        "$WORK = a temporary folder, $OUT = the --out folder\n" + "\n".join(log) + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
