"""Case folders: the arrays, the response and ``case.json``; and ``gdd simulate`` from files."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..io import InputError, UsageError, atomic, read_image, read_raster, split_spec, write_json
from ..io.formats import input_files
from ..sensors import SENSORS, sensor_gnyq
from .degrade import _SPATIAL, Spatial, simulate_hs, simulate_pan, simulation_kernel
from .responses import _ROWS, _WAVELENGTH_VARS, _load_response, _on_grid

Task = Literal["hs", "pan"]

#: The version of the case folder layout, stored as ``"gdd_case"`` in ``case.json``.
CASE_VERSION = 1
#: Band centres of a 31-band CAVE cube: 400-700 nm in 10 nm steps.
CAVE_WAVELENGTHS: tuple[float, ...] = tuple(float(w) for w in range(400, 701, 10))

#: The files of each task's inputs, by role (``case.json``'s ``inputs``).
_INPUTS: dict[str, dict[str, str]] = {
    "hs": {"hsi": "hsi.npy", "guide": "msi.npy", "srf": "srf.csv"},
    "pan": {"ms": "ms_lr.npy", "pan": "pan_lr.npy"},
}


# --------------------------------------------------------------------------- case folders


def _plain(v: Any) -> Any:
    """JSON-ready: numpy scalars and arrays to Python, tuples to lists."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return v.name
    if isinstance(v, Mapping):
        return {str(k): _plain(w) for k, w in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(w) for w in v]
    return v


def _file_name(key: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]+", key):
        raise ValueError(f"array names must be letters, digits and underscores, got {key!r}")
    return "srf.csv" if key == "srf" else f"{key}.npy"


def _write_array(path: Path, arr: np.ndarray) -> None:
    if path.suffix == ".csv":
        m = np.atleast_2d(np.asarray(arr, dtype=np.float64))
        header = "response matrix: rows = guide bands, columns = the reference's bands"

        def save_csv(t: Path) -> None:
            np.savetxt(t, m, delimiter=",", fmt="%.17g", header=header)

        atomic(path, save_csv)
    else:
        a = np.ascontiguousarray(arr, dtype=np.float32)

        def save_npy(t: Path) -> None:
            np.save(t, a)

        atomic(path, save_npy)


def write_case(
    folder: str | os.PathLike[str],
    arrays: Mapping[str, np.ndarray],
    protocol: Mapping[str, Any],
    *,
    force: bool = False,
    inputs: Mapping[str, str | os.PathLike[str]] | None = None,
) -> Path:
    """Write a case folder: each array as ``NAME.npy`` (float32), ``srf`` as ``srf.csv``, then ``case.json``.

    ``case.json`` is ``{"gdd_case": 1, **protocol}``; ``inputs`` and ``reference`` default to the
    task's file names (hs: ``hsi.npy``, ``msi.npy`` as the guide, ``srf.csv``; pan:
    ``ms_lr.npy``, ``pan_lr.npy``; ``gt.npy``), and every ``*source`` keeps its file name only.
    ``srf.csv`` is the (K, C) matrix, rows the guide's bands, no wavelength column. Every file
    is written atomically and ``case.json`` last, so it never names a missing file.

    Returns:
        the path of ``case.json``.

    Raises:
        InputError: ``folder`` is a file, or already holds ``case.json`` or one of the files
            without ``force``; a file it would write is one of ``inputs`` (the files the case
            was made from, by role), even with ``force``.
        ValueError: a protocol without a known ``task``, or naming a file that is not written.
    """
    out = Path(folder)
    task = protocol.get("task")
    if task not in _INPUTS:
        raise ValueError(f"protocol['task'] must be 'hs' or 'pan', got {task!r}")
    files = {key: _file_name(key) for key in arrays}
    body = _plain(dict(protocol))
    case: dict[str, Any] = {"gdd_case": CASE_VERSION, "task": body.pop("task")}
    case.update({key: body.pop(key) for key in ("factor", "ratio") if key in body})
    case["inputs"] = body.pop("inputs", dict(_INPUTS[task]))
    case["reference"] = body.pop("reference", "gt.npy")
    case.update(body)
    for key in [k for k in case if k.endswith("source") and isinstance(case[k], str)]:
        case[key] = Path(case[key]).name  # a file name only: a case folder must not reveal local paths
    named = [*case["inputs"].values(), *([case["reference"]] if case["reference"] is not None else [])]
    missing = [n for n in named if n not in files.values()]
    if missing:
        raise ValueError(f"the protocol names {', '.join(missing)}, which are not among the arrays")
    if out.exists() and not out.is_dir():
        raise InputError(f"case folder {out} is a file")
    written = {(out / n).resolve(): n for n in ["case.json", *files.values()]}
    for role, spec in (inputs or {}).items():
        for read in input_files(split_spec(spec)[0]):
            if read.resolve() in written:
                raise InputError(f"{read} is the {role}; the case folder {out} cannot also write it")
    existing = [n for n in ["case.json", *files.values()] if (out / n).exists()]
    if existing and not force:
        raise InputError(f"{out} already holds {', '.join(existing)}; use --force to overwrite")
    for key, arr in arrays.items():
        _write_array(out / files[key], arr)
    return write_json(out / "case.json", case)


def _resolve(folder: Path, name: object, what: str, label: str) -> Path | str:
    """A file named by the case: relative to its folder (or absolute), with an optional ``:VAR``."""
    if not isinstance(name, str) or not name or name in (".", ".."):
        raise InputError(f"{label}: {what} must be a file name, got {name!r}")
    path, var = split_spec(name)
    p = path if path.is_absolute() else folder / path
    if not p.exists():
        raise InputError(f"{label}: {what} file {name} is missing")
    return p if var is None else f"{p}:{var}"


def read_case(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a case folder (or its ``case.json``), its file names resolved against the folder.

    Files are named relative to the case folder (or absolutely), as ``file.mat:VAR`` or
    ``file.npz:KEY`` where needed, so a case can point at data kept elsewhere.

    Returns:
        the ``case.json`` dict with ``inputs`` as {role: Path, or ``"path:VAR"``}, ``reference``
        likewise (or None for a case without one), and ``folder`` the case folder.

    Raises:
        InputError: no ``case.json``, invalid JSON, another layout version or task, a missing
            factor/ratio or input, a named file that is missing.
    """
    p = Path(path)
    case_file = p / "case.json" if p.is_dir() else p
    label = f"case {case_file}"
    if not case_file.is_file():
        raise InputError(f"case {p}: no case.json (make a case folder with gdd simulate)")
    try:
        data = json.loads(case_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{label}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("gdd_case") != CASE_VERSION:
        got = data.get("gdd_case") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"{label}: not a gdd case file (expected gdd_case {CASE_VERSION}, got {got!r})")
    task = data.get("task")
    if task not in _INPUTS:
        raise InputError(f"{label}: task must be 'hs' or 'pan', got {task!r}")
    scale = "factor" if task == "hs" else "ratio"
    if isinstance(data.get(scale), bool) or not isinstance(data.get(scale), int) or data[scale] < 1:
        raise InputError(f"{label}: {scale} must be a positive integer, got {data.get(scale)!r}")
    inputs = data.get("inputs")
    if not isinstance(inputs, dict):
        raise InputError(f"{label}: inputs must be an object of file names, got {inputs!r}")
    absent = [role for role in _INPUTS[task] if role not in inputs]
    if absent:
        raise InputError(f"{label}: inputs lack {', '.join(absent)}")
    folder = case_file.parent
    out = dict(data)
    out["inputs"] = {role: _resolve(folder, name, f"input {role!r}", label) for role, name in inputs.items()}
    ref = data.get("reference")
    out["reference"] = None if ref is None else _resolve(folder, ref, "reference", label)
    out["folder"] = folder
    return out


# --------------------------------------------------------------------------- from files


def _spec_name(spec: str) -> str:
    path, var = split_spec(spec)
    return path.name + (f":{var}" if var else "")


def _srf_name(spec: str) -> str:
    """The response's file name (never its folder) with any variable or row selection, or the built-in name."""
    m = _ROWS.match(spec)
    if m and not Path(spec).exists():
        return _spec_name(m.group(1)) + ":" + m.group(2)
    return _spec_name(spec)


def _reference_wavelengths(spec: str, raster_wl: Sequence[float] | None, bands: int) -> tuple[list[float] | None, bool]:
    """The reference's band centres (nm) and whether they are assumed (a 31-band CAVE folder)."""
    if raster_wl is not None and len(raster_wl) == bands:
        return [float(w) for w in raster_wl], False
    path, _ = split_spec(spec)
    found: dict[str, np.ndarray] = {}
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as z:
                found = {k: z[k] for k in _WAVELENGTH_VARS if k in z.files}
        elif path.suffix.lower() == ".mat":
            found = _mat_wavelengths(path)
    except Exception:
        found = {}
    for key in _WAVELENGTH_VARS:
        v = np.asarray(found.get(key, []))
        if v.dtype.kind in "iuf" and v.size == bands and np.isfinite(v).all():
            return [float(w) for w in v.ravel()], False
    if path.is_dir() and bands == len(CAVE_WAVELENGTHS):
        return list(CAVE_WAVELENGTHS), True
    return None, False


def _mat_wavelengths(path: Path) -> dict[str, np.ndarray]:
    """The wavelength variables of a ``.mat`` file: MATLAB v5 (SciPy) or v7.3 (HDF5, through h5py)."""
    import scipy.io

    try:
        return dict(scipy.io.loadmat(path, variable_names=list(_WAVELENGTH_VARS)))
    except NotImplementedError:  # v7.3: an HDF5 file
        import h5py

        with h5py.File(path, "r") as f:
            return {k: np.asarray(f[k]) for k in _WAVELENGTH_VARS if k in f}


def _check_range(a: np.ndarray, label: str) -> None:
    lo, hi = float(a.min()), float(a.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise InputError(f"{label}: values span {lo:g}..{hi:g}, expected [0, 1] (integer data: give --bit-depth)")


def run_simulate(
    *,
    reference: str,
    out: str,
    factor: int,
    pan: str | None = None,
    srf: str | None = None,
    spatial: Spatial | None = None,
    sensor: str = "none",
    snr_db: float | None = None,
    seed: int = 0,
    bit_depth: int | None = None,
    crop: bool = False,
    force: bool = False,
    sigma: float | None = None,
    shift: tuple[int, int] = (0, 0),
) -> Path:
    """Read a reference (and a PAN), simulate a reduced-resolution case and write its folder.

    With ``srf`` (and no ``pan``) an HS-MS case; with ``pan`` a pansharpening case at ratio
    ``factor`` (``spatial`` is then the MTF). The band wavelengths come from the reference file
    (GeoTIFF/ENVI tags; a ``wavelengths_nm`` array in an ``.npz``/``.mat``); a folder of 31
    band PNGs (CAVE) is taken as 400-700 nm in 10 nm steps, recorded as
    ``wavelengths_assumed: true``. A tabulated or built-in ``srf`` needs them; a (K, C) matrix
    does not. ``bit_depth`` scales integer data of the reference and the PAN alike.

    Args:
        spatial: ``"block"`` (the HS default), ``"gaussian"`` or ``"mtf"``; for a PAN case only
            None or ``"mtf"``.
        sigma, shift: an HS case's Gaussian width and misregistration (see
            :func:`gdd.simulate.simulate_hs`); the blur that made the HSI is then written as
            ``kernel.npy``, an input of the case (``gdd bench`` fuses with it).

    Returns:
        the path of the written ``case.json``.

    Raises:
        UsageError: options that do not go together (neither or both of ``srf`` and ``pan``,
            a spatial model or sensor the task does not use).
        InputError: every other bad input, in one line.
    """
    if (srf is None) == (pan is None):
        raise UsageError("give --srf (a hyperspectral case) or --pan (a pansharpening case), not both or neither")
    task: Task = "pan" if pan is not None else "hs"
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
        raise InputError(f"--factor must be an integer >= 2, got {factor!r}")
    if snr_db is not None and not math.isfinite(snr_db):
        raise InputError(f"--snr-db must be a finite number, got {snr_db!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed!r}")
    if sensor not in SENSORS:
        raise InputError(f"unknown --sensor {sensor!r}; expected one of {', '.join(SENSORS)}")
    if task == "pan" and (sigma is not None or any(shift)):
        raise UsageError("--sigma and --shift apply to a hyperspectral case (--srf) only")
    if task == "pan":
        if spatial not in (None, "mtf"):
            raise UsageError(f"a pansharpening case is degraded by the sensor MTF; --spatial {spatial} does not apply")
        mode: Spatial = "mtf"
    else:
        mode = spatial or "block"
        if mode not in _SPATIAL:
            raise InputError(f"--spatial must be block, gaussian or mtf, got {mode!r}")
        if sensor != "none" and mode != "mtf":
            raise UsageError(f"--sensor {sensor} applies to --spatial mtf (or --pan) only")
        if sigma is not None and mode != "gaussian":
            raise UsageError(f"--sigma is the width of a Gaussian blur: give it with --spatial gaussian, not {mode}")
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"case folder {out_dir} is a file")
    if (out_dir / "case.json").exists() and not force:
        raise InputError(f"{out_dir} already holds case.json; use --force to overwrite")

    raster = read_raster(reference, name="reference", bit_depth=bit_depth)
    if raster.mask is not None:
        raise InputError(f"reference {_spec_name(reference)}: has nodata pixels, which a simulation cannot leave out")
    cube = raster.data
    _check_range(cube, f"reference {_spec_name(reference)}")
    h, w, c = cube.shape
    if task == "hs" and c < 2:
        raise InputError(
            f"reference {_spec_name(reference)}: has one band; a hyperspectral case is made from a reference of many"
        )
    if abs(shift[0]) >= h or abs(shift[1]) >= w:
        raise InputError(
            f"--shift {shift[0]},{shift[1]}: larger than the reference {_spec_name(reference)} ({h} x {w} pixels)"
        )
    wavelengths, assumed = _reference_wavelengths(reference, raster.wavelengths, c)
    protocol: dict[str, Any] = {"task": task, ("factor" if task == "hs" else "ratio"): factor}
    protocol.update(spatial=mode, sensor=sensor, snr_db=snr_db, seed=seed, source=_spec_name(reference))
    try:
        if srf is not None:
            protocol["srf_source"] = _srf_name(srf)
            resp = _load_response(srf)
            if resp.wavelengths is not None and wavelengths is None:
                raise InputError(
                    f"reference {_spec_name(reference)}: its band wavelengths are unknown, and {resp.label} is "
                    "tabulated by wavelength (use a file that carries them, a 31-band CAVE folder, or a K x C matrix)"
                )
            matrix = _on_grid(resp, None if wavelengths is None else np.asarray(wavelengths), c)
            arrays = simulate_hs(
                cube, factor=factor, srf=matrix, spatial=mode, sensor=sensor, snr_db=snr_db, seed=seed, crop=crop,
                sigma=sigma, shift=shift,
            )  # fmt: skip
            if sigma is not None or any(shift):
                arrays = {**arrays, "kernel": simulation_kernel(factor, spatial=mode, sigma=sigma, shift=shift)}  # type: ignore[arg-type]
                protocol.update(sigma=sigma, shift=list(shift), inputs={**_INPUTS["hs"], "kernel": "kernel.npy"})
            if mode == "mtf":
                protocol["gnyq"] = sensor_gnyq(sensor, c)
        elif pan is not None:
            protocol["pan_source"] = _spec_name(pan)
            pan_img = read_image(pan, name="pan", bit_depth=bit_depth)
            if pan_img.shape[2] != 1:
                raise InputError(f"pan {_spec_name(pan)}: has {pan_img.shape[2]} bands, expected 1")
            _check_range(pan_img, f"pan {_spec_name(pan)}")
            arrays = simulate_pan(cube, pan_img, ratio=factor, sensor=sensor, snr_db=snr_db, seed=seed, crop=crop)
            protocol["gnyq"] = {"ms": sensor_gnyq(sensor, c), "pan": sensor_gnyq(sensor)[0]}
    except InputError:
        raise
    except ValueError as exc:
        message = str(exc).replace("(crop=True crops it)", "(--crop crops it)")
        raise InputError(f"reference {_spec_name(reference)}: {message}") from None

    gh, gw = arrays["gt"].shape[:2]
    if (gh, gw) != (h, w):
        protocol["cropped"] = {"from": [h, w], "to": [gh, gw], "corner": "top-left"}
    if wavelengths is not None:
        protocol["wavelengths"] = wavelengths
        protocol["wavelengths_assumed"] = assumed
    read = {
        "reference": reference,
        "pan": pan,
        "response (--srf)": srf if srf and Path(split_spec(srf)[0]).is_file() else None,
    }
    return write_case(out_dir, arrays, protocol, force=force, inputs={k: v for k, v in read.items() if v})
