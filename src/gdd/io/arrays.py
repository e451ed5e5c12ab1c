"""Arrays in memory read as the files are: NumPy H x W x C arrays and rioxarray DataArrays.

The readers' rules, for :mod:`gdd.arrays`: integers scaled by their type's range (or bit depth),
a product's scale and offset applied, nodata pixels masked (a value in any band, or NaN).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._common import InputError
from .read import _bit_scale, _nodata_mask

__all__ = ["is_dataarray", "read_array", "spatial_dims"]


def is_dataarray(a: object) -> bool:
    return type(a).__name__ == "DataArray" and hasattr(a, "dims") and hasattr(a, "coords")


def spatial_dims(a: Any) -> tuple[str, str]:
    """The (row, column) dimensions of a DataArray: every one but ``band``."""
    dims = [d for d in a.dims if d != "band"]
    if len(dims) != 2:
        raise InputError(f"a DataArray needs two spatial dimensions and at most a 'band' one, got {a.dims}")
    for y, x in (("y", "x"), ("lat", "lon"), ("latitude", "longitude")):
        if y in dims and x in dims:
            return y, x
    return dims[0], dims[1]


def _declared(a: Any) -> tuple[float | None, np.dtype | None, tuple[float, float] | None]:
    """What a DataArray says of its values: its nodata, the integer type they were stored as, their scale and offset.

    The attributes and encoding rioxarray writes: ``_FillValue`` (or ``missing_value``,
    ``fill_value``, ``nodata``) in the attributes of an array read as stored; in the encoding
    of one opened with ``masked=True``, whose nodata pixels are NaN and whose integers are floats
    (``mask_and_scale=True``: the physical values, their scale and offset in the encoding).
    """
    attrs, encoding = dict(getattr(a, "attrs", {})), dict(getattr(a, "encoding", {}))
    nodata = next((attrs[k] for k in ("_FillValue", "missing_value", "fill_value", "nodata") if k in attrs), None)
    if nodata is None and "_FillValue" in encoding:
        nodata = math.nan  # masked on reading
    stored = None
    kind = str(encoding.get("rasterio_dtype") or encoding.get("dtype") or "")
    # Physical values already where a scale or offset was applied on reading.
    decoded = (float(encoding.get("scale_factor", 1.0)), float(encoding.get("add_offset", 0.0))) != (1.0, 0.0)
    if kind and not decoded and np.dtype(a.dtype).kind == "f" and np.dtype(kind).kind in "iu":
        stored = np.dtype(kind)
    scale, offset = float(attrs.get("scale_factor", 1.0)), float(attrs.get("add_offset", 0.0))
    physical = None if (scale, offset) == (1.0, 0.0) else (scale, offset)
    return None if nodata is None else float(nodata), stored, physical


def read_array(a: Any, name: str, bit_depth: int | None, nodata: float | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The array as H x W x C float32 in the command line's scale, and its pixels with data (None: all).

    Integers by their range; nodata pixels (``nodata``, else the DataArray's own) filled with
    their band's mean of the others, as the readers do.
    """
    declared, stored, physical = _declared(a) if is_dataarray(a) else (None, None, None)
    if is_dataarray(a):
        y, x = spatial_dims(a)
        a = (a.transpose(y, x, "band") if "band" in a.dims else a.transpose(y, x)).values
    arr = np.asarray(a)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise InputError(f"{name}: expected an H x W or H x W x C array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: unsupported data type {arr.dtype}")
    mask = _nodata_mask(arr, declared if nodata is None else float(nodata), name, "nodata=np.nan")
    if physical is not None:
        arr = arr.astype(np.float64) * physical[0] + physical[1]
    else:
        # The readers' rule for integers (type range or bit depth; values that do not fit refused),
        # also for integers that were turned into floats to hold NaN.
        ints = arr if stored is None else np.where(np.isfinite(arr), arr, 0).astype(stored)
        scale = _bit_scale(ints, name, bit_depth, mask)
        if scale is not None:
            arr = arr.astype(np.float64) / scale
    arr = arr.astype(np.float32)
    if mask is not None:  # as the readers fill them
        arr = np.where(mask[..., None], arr, arr[mask].mean(axis=0)).astype(np.float32)
    return np.ascontiguousarray(arr), mask
