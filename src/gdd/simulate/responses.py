"""Spectral response matrices: from files or colour-science, resampled onto a cube's wavelengths."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..io import InputError, MissingFileError, read_matrix, split_spec
from ..io.read import read_table

_CMFS = {"cie1931": "CIE 1931 2 Degree Standard Observer"}
# colour-science names its NPL cameras by model number only; the Nikon is the D5100.
# colour-science spells the Sigma SD Merrill's key "SDMerill"; both spellings name it.
_CAMERA_SLUGS = {"Nikon 5100 (NPL)": "nikon-d5100", "Sigma SDMerill (NPL)": "sigma-sdmerrill"}
_ALSO = {"sigmasdmerill": "sigmasdmerrill"}
_WAVELENGTH_VARS = ("wavelength_nm", "wavelengths_nm", "wavelengths", "wavelength")
#: A tabulated row needs this share of its response within the image's wavelength range.
_MIN_INSIDE = 0.1
_ROWS = re.compile(r"^(.*\.(?:mat|csv|txt)):(ms|pan|\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)$", re.IGNORECASE)


# --------------------------------------------------------------------------- spectral responses


@dataclass
class _Response:
    """A response as its source gives it: (K, N) rows, tabulated at ``wavelengths`` or on the image's bands."""

    matrix: np.ndarray
    wavelengths: np.ndarray | None
    label: str


def resample_response(table_wavelengths: ArrayLike, table: ArrayLike, wavelengths: ArrayLike) -> np.ndarray:
    """Resample a tabulated (K, N) response onto band centres: linear interpolation, zero outside.

    Each row is sampled at the band centres (no integration over the band width), and is zero
    at wavelengths outside the tabulated range. Rows keep their scale.

    Example:
        >>> resample_response([400, 500], np.array([[0.0, 1.0]]), [390, 400, 450, 500, 510]).tolist()
        [[0.0, 0.0, 0.5, 1.0, 0.0]]
    """
    wl = np.asarray(table_wavelengths, dtype=np.float64).ravel()
    m = np.atleast_2d(np.asarray(table, dtype=np.float64))
    if m.shape[1] != wl.size:
        raise ValueError(f"the table has {m.shape[1]} columns for {wl.size} wavelengths")
    order = np.argsort(wl, kind="stable")
    wl, m = wl[order], m[:, order]
    if wl.size < 2 or np.any(np.diff(wl) <= 0):
        raise ValueError("the tabulated wavelengths must be at least two distinct values")
    at = np.asarray(wavelengths, dtype=np.float64).ravel()
    return np.stack([np.interp(at, wl, row, left=0.0, right=0.0) for row in m])


def _colour(name: str) -> Any:
    try:
        return importlib.import_module("colour")
    except ImportError:
        raise MissingFileError(
            f"srf {name!r}: no such file, and built-in responses (cie1931, cameras) need colour-science: "
            "pip install 'gdd[demo]'"
        ) from None


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _camera_slug(key: str) -> str:
    return _CAMERA_SLUGS.get(key) or re.sub(r"[^a-z0-9]+", "-", re.sub(r"\(.*?\)", "", key).lower()).strip("-")


def _builtin(name: str) -> _Response:
    want = _compact(name)
    want = _ALSO.get(want, want)
    colour = _colour(name)
    for short, key in _CMFS.items():
        if want == _compact(short):
            msds = colour.MSDS_CMFS[key]
            return _Response(np.asarray(msds.values, dtype=np.float64).T, np.asarray(msds.wavelengths), name)
    cameras = colour.MSDS_CAMERA_SENSITIVITIES
    for key in cameras:
        if want in {_compact(_camera_slug(key)), _compact(key), _compact(re.sub(r"\(.*?\)", "", key))}:
            msds = cameras[key]
            return _Response(np.asarray(msds.values, dtype=np.float64).T, np.asarray(msds.wavelengths), name)
    names = [*_CMFS, *(_camera_slug(k) for k in cameras)]
    raise MissingFileError(f"srf {name!r}: no such file or built-in response (built-ins: {', '.join(names)})")


def _read_csv_table(path: Path, label: str) -> _Response:
    if not path.is_file():
        raise MissingFileError(f"{label}: file not found")
    header, table = read_table(path, label)
    named = header is not None and header[0].startswith(("wavelength", "lambda", "nm", "um", "µm"))
    if not named and table.shape[0] < table.shape[1] and table[:, 0].min() < 100:
        # Fewer rows than columns and no wavelengths in nm first: a K x C matrix of weights on
        # the image's own bands (as `gdd simulate` writes srf.csv into a case), not a table.
        if not np.isfinite(table).all():
            raise InputError(f"{label}: contains NaN or Inf values")
        return _Response(table, None, label)
    if table.shape[1] < 2:
        raise InputError(f"{label}: expected a wavelength column and one column per band, in rows of equal length")
    if not np.isfinite(table).all():
        raise InputError(f"{label}: contains NaN or Inf values")
    # A header naming micrometres ("wavelength_um", "µm", "micrometers"), or wavelengths all
    # below 30 (as an ENVI header without units): the wavelengths in nm.
    micro = named and re.search(r"(^|[^a-z])(um|µm|micro)", header[0]) is not None  # type: ignore[index]
    micro = micro or float(table[:, 0].max()) < 30
    return _Response(table[:, 1:].T, table[:, 0] * (1000.0 if micro else 1.0), label)


def _mat_names(path: Path) -> list[str]:
    try:
        import scipy.io

        return [name for name, _, _ in scipy.io.whosmat(path)]
    except Exception:
        pass
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return list(f.keys())
    except Exception:
        return []


def _read_mat_table(path: Path, var: str | None, label: str) -> _Response:
    if not path.is_file():
        raise MissingFileError(f"{label}: file not found")
    names = _mat_names(path)
    wave_var = next((n for n in _WAVELENGTH_VARS if n in names), None)
    if wave_var is None:
        return _Response(read_matrix(f"{path}:{var}" if var else path, name="srf"), None, label)
    if var is None:
        var = "Spectral_Responses_Matrix"
    wl = read_matrix(f"{path}:{wave_var}", name="srf").ravel()
    m = read_matrix(f"{path}:{var}", name="srf")
    if m.shape[1] != wl.size and m.shape[0] == wl.size:
        m = m.T
    if m.shape[1] != wl.size:
        raise InputError(f"{label}: {var} is {m.shape[0]} x {m.shape[1]} for {wl.size} wavelengths")
    return _Response(m, wl, label)


def _pan_row(r: _Response) -> bool:
    """Whether the last row is a PAN: its half-maximum span holds the peaks of at least two other rows.

    Satellite tables end with the PAN where the sensor has one (Sentinel-2 has none).
    """
    if r.wavelengths is None or r.matrix.shape[0] < 3:
        return False
    wl, last = r.wavelengths, r.matrix[-1]
    span = wl[last >= last.max() / 2]
    peaks = wl[np.argmax(r.matrix[:-1], axis=1)]
    return int(((peaks >= span.min()) & (peaks <= span.max())).sum()) >= 2


def _select(r: _Response, selection: str) -> _Response:
    sel = selection.lower()
    k = r.matrix.shape[0]
    if sel in ("ms", "pan"):
        if not _pan_row(r):
            raise InputError(f"{r.label}: has no PAN row (its last row is a narrow band), so ':{sel}' does not apply")
        rows = list(range(k - 1)) if sel == "ms" else [k - 1]
    else:
        rows = []
        for part in sel.split(","):
            a, _, b = part.partition("-")
            rows.extend(range(int(a), int(b or a) + 1))
        if not rows or min(rows) < 1 or max(rows) > k:
            raise InputError(f"{r.label}: rows {selection} are not all within 1..{k}")
        rows = [i - 1 for i in rows]
    return _Response(r.matrix[rows], r.wavelengths, r.label)


def _load_response(spec: str) -> _Response:
    """A response from a file or a built-in name, as tabulated (not yet on the image's bands)."""
    text = os.fspath(spec)
    selection = None
    m = _ROWS.match(text)
    if m and not Path(text).exists():
        text, selection = m.group(1), m.group(2)
    path, var = split_spec(text)
    label = f"srf {path.name if path.exists() else text}"
    if not path.exists() and "." not in text and "/" not in text and os.sep not in text:
        resp = _builtin(text)
    elif path.suffix.lower() in (".csv", ".txt"):
        resp = _read_csv_table(path, label)
    elif path.suffix.lower() == ".mat":
        resp = _read_mat_table(path, var, label)
    else:
        resp = _Response(read_matrix(text, name="srf"), None, label)
    if resp.wavelengths is not None:
        wl = np.asarray(resp.wavelengths, dtype=np.float64).ravel()
        if wl.size < 2 or np.unique(wl).size != wl.size:
            raise InputError(f"{label}: the wavelengths must be at least two distinct values")
        order = np.argsort(wl, kind="stable")
        resp = _Response(resp.matrix[:, order], wl[order], label)
    if not np.isfinite(resp.matrix).all():
        raise InputError(f"{label}: contains NaN or Inf values")
    return _Response(resp.matrix, resp.wavelengths, label) if selection is None else _select(resp, selection)


def _ranges(rows: list[int]) -> str:
    """1-based rows as a selection: [1, 2, 3, 5] -> "1-3,5"."""
    parts: list[str] = []
    for i in rows:
        if parts and parts[-1].split("-")[-1] == str(i - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{i}"
        else:
            parts.append(str(i))
    return ",".join(parts)


def _on_grid(r: _Response, wavelengths: np.ndarray | None, bands: int) -> np.ndarray:
    if r.wavelengths is None:
        m = r.matrix
        if m.shape[1] != bands and m.shape[0] == bands:
            m = m.T
        if m.shape[1] != bands:
            raise InputError(f"{r.label}: a {m.shape[0]} x {m.shape[1]} matrix for an image of {bands} bands")
        return m
    if wavelengths is None:
        raise InputError(f"{r.label}: tabulated by wavelength, so the image's band wavelengths are needed")
    m = resample_response(r.wavelengths, r.matrix, wavelengths)
    # A row mostly outside the image's range would be its tail alone, blown up by the row
    # normalisation: refuse it rather than simulate a band the sensor does not see.
    wl = r.wavelengths
    share = np.ones(m.shape[0])
    if wavelengths.size > 1:
        half = float(np.median(np.diff(np.sort(wavelengths)))) / 2
        inside = (wl >= wavelengths.min() - half) & (wl <= wavelengths.max() + half)
        weight = np.abs(r.matrix) * np.gradient(wl)
        total = weight.sum(axis=1)
        share = (weight * inside).sum(axis=1) / np.where(total > 0, total, 1)
    zero = np.abs(m).sum(axis=1) == 0
    between = [i + 1 for i in np.flatnonzero(zero & (share >= _MIN_INSIDE))]
    if between:  # inside the range, but narrower than the gaps between the band centres
        raise InputError(
            f"{r.label}: row(s) {', '.join(map(str, between))} fall between the image's band centres (zero at every "
            f"one of its {wavelengths.size} bands, {wavelengths.min():g}-{wavelengths.max():g} nm): the image's bands "
            "are too coarse for such a narrow response"
        )
    outside = [i + 1 for i in np.flatnonzero((share < _MIN_INSIDE) | zero)]
    if outside:
        keep = _ranges([i for i in range(1, m.shape[0] + 1) if i not in outside])
        raise InputError(
            f"{r.label}: row(s) {', '.join(map(str, outside))} lie outside the image's "
            f"{wavelengths.min():g}-{wavelengths.max():g} nm (under {_MIN_INSIDE:.0%} of the response inside; "
            f"tabulated over {wl.min():g}-{wl.max():g} nm)" + (f"; keep the others with FILE:{keep}" if keep else "")
        )
    return m


def response_on_bands(
    spec: str,
    wavelengths: Sequence[float] | None,
    bands: int,
    how: str = "give the HS image with its wavelengths (ENVI, GeoTIFF)",
) -> np.ndarray | None:
    """``gdd hs --srf``: a response tabulated by wavelength, on the HS image's ``bands`` (K x C).

    Resampled onto the image's band wavelengths where it has them (as :func:`spectral_response`);
    without them, a table of as many wavelengths as the image has bands is taken as on them, in
    ascending order. None for a matrix already on the bands (the caller reads it as such).
    ``how``: how the user gives the wavelengths, said when they are needed.

    Raises:
        InputError: a table on another count of wavelengths for an image without them, or a
            row outside the image's range (as :func:`spectral_response`).
    """
    path = split_spec(os.fspath(spec))[0]
    try:
        r = _load_response(spec)
    except InputError:
        if path.suffix.lower() in (".csv", ".txt") and path.is_file():
            return None  # not a table by wavelength: a matrix, read (and judged) as one
        raise
    # A first column of weights (a C x K matrix) is no wavelength grid in nm.
    if r.wavelengths is None or float(np.min(r.wavelengths)) < _SHORTEST_NM:
        return None
    if wavelengths is not None:
        return _on_grid(r, np.asarray(wavelengths, dtype=np.float64).ravel(), bands)
    if r.matrix.shape[1] != bands:
        wl = r.wavelengths
        raise InputError(
            f"{r.label}: tabulated at {wl.size} wavelengths ({wl.min():g}-{wl.max():g} nm) and the HS image's "
            f"{bands} bands have none to resample it onto: {how} or the response on its bands"
        )
    return r.matrix


#: Below this, a table's first column is no wavelength in nm (a matrix's weights).
_SHORTEST_NM = 100.0


def spectral_response(spec: str, wavelengths: Sequence[float]) -> np.ndarray:
    """A (K, C) response matrix on the band centres ``wavelengths`` (nm) of a C-band image.

    Tabulated responses are resampled by linear interpolation and are zero outside their
    tabulated range (see :func:`resample_response`); a row with under 10 % of its response
    within the image's wavelength range is refused (its tail alone would make a band). Rows are
    NOT normalised here: the fusion command scales each row to sum 1 (and :func:`simulate_hs`
    does for the simulation).

    Args:
        spec: one of
            - a CSV/TXT file whose first column is the wavelength (nm) and each further column
              a band (a header row and ``#`` comment lines are allowed), as ``srf/*.csv``;
            - a ``.mat`` file with ``Spectral_Responses_Matrix`` (rows = bands, the LAST row the
              PAN where the sensor has one) and ``wavelength_nm``, as ``srf/satellite/*.mat``;
            - either of these with a row selection: ``FILE:ms`` (all rows but the PAN),
              ``FILE:pan`` (the last row), ``FILE:1-4`` or ``FILE:1,3`` (1-based rows);
            - ``.npy``/``.npz[:KEY]``/``.mat`` without wavelengths: a (K, C) matrix already on
              the image's bands (a (C, K) one is transposed when that is unambiguous);
            - a built-in name, from colour-science (``pip install 'gdd[demo]'``): ``cie1931``
              (CIE 1931 2-degree colour-matching functions) or a camera of its camera
              sensitivities dataset (``nikon-d5100``, ``sigma-sdmerrill``).
        wavelengths: the image's band centres in nm.

    Raises:
        InputError: unreadable or unknown spec, a missing optional dependency, a row that is
            zero over the image's wavelengths, a matrix that does not fit the band count.
    """
    wl = np.asarray(wavelengths, dtype=np.float64).ravel()
    if wl.size < 1 or not np.isfinite(wl).all():
        raise InputError(f"the band wavelengths must be finite numbers, got {list(wavelengths)!r}")
    return _on_grid(_load_response(spec), wl, wl.size)
