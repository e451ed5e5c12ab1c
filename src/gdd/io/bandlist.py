"""A list of band files read as one image: ``--ms B2.tif,B3.tif,B4.tif,B8.tif``."""

from __future__ import annotations

import os

import numpy as np

from ..checks import grid_mismatch
from ._common import InputError
from .read import Layout, Raster, Stored

__all__ = ["band_files"]


def band_files(specs: list[str], name: str, bit_depth: int | None, layout: Layout, nodata: float | None) -> Raster:
    """Files of one or more bands each, on one grid, stacked as one image (see :func:`read_raster`)."""
    from .read import read_raster

    parts = [read_raster(p, name=name, bit_depth=bit_depth, layout=layout, nodata=nodata) for p in specs]
    first = parts[0]
    for spec, part in zip(specs[1:], parts[1:]):
        if part.data.shape[:2] != first.data.shape[:2]:
            raise InputError(
                f"{name} {spec}: {part.data.shape[0]} x {part.data.shape[1]} pixels, but {specs[0]} has "
                f"{first.data.shape[0]} x {first.data.shape[1]}; band files must share one grid"
            )
        if part.crs != first.crs or not _same_grid(part.transform, first.transform, first.data.shape[:2]):
            raise InputError(
                f"{name} {spec}: its georeferencing differs from {specs[0]}'s; band files must share one grid"
            )
    kinds = [_values(p.stored) for p in parts]
    if odd := next((i for i, k in enumerate(kinds) if k != kinds[0]), None):
        raise InputError(
            f"{name} {specs[odd]}: its values are {kinds[odd]}, {specs[0]}'s {kinds[0]}; band files must "
            "hold their values alike"
        )
    masks = [p.mask for p in parts if p.mask is not None]
    mask = np.logical_and.reduce(masks) if masks else None
    names = [p.descriptions or tuple(os.path.splitext(os.path.basename(s))[0] for _ in range(p.data.shape[2]))
             for s, p in zip(specs, parts)]  # fmt: skip
    scales = {p.scale for p in parts}
    return Raster(
        data=np.ascontiguousarray(np.concatenate([p.data for p in parts], axis=-1)),
        mask=mask,
        crs=first.crs,
        transform=first.transform,
        nodata=first.nodata,
        descriptions=tuple(d for group in names for d in group),
        wavelengths=None
        if any(p.wavelengths is None for p in parts)
        else tuple(w for p in parts for w in p.wavelengths),  # type: ignore[union-attr]
        scale=scales.pop() if len(scales) == 1 else None,
        geotiff_unread=any(p.geotiff_unread for p in parts),
        sensor=first.sensor,
        stored=_stacked([p.stored for p in parts]),
    )


def _same_grid(a: tuple[float, ...] | None, b: tuple[float, ...] | None, size: tuple[int, int]) -> bool:
    """Two grids of ``size`` pixels alike to a thousandth of a pixel (the rounding of two writers), or both absent."""
    if a is None or b is None:
        return a is b
    return grid_mismatch(a, b, 1, tolerance=1e-3, size=(int(size[0]), int(size[1]))) == ""


def _values(stored: Stored | None) -> str:
    """How a part of a band list holds its values, in words: parts must agree (see :func:`band_files`)."""
    if stored is None or (stored.scales is None and stored.divisor is None):
        return "used as stored"
    if stored.scales is not None:
        return "physical (a GDAL scale and offset)"
    return f"digital numbers divided by {stored.divisor:g} ({stored.dtype})"


def _stacked(parts: list[Stored | None]) -> Stored | None:
    """The band list's storage: its parts' where they are stored alike (one type), else unknown (None)."""
    first = parts[0]
    if first is None or any(p is None or (p.dtype, p.nodata) != (first.dtype, first.nodata) for p in parts):
        return None
    if first.scales is None:
        return first if all(p == first for p in parts) else None
    scales = tuple(v for p in parts if p is not None for v in p.scales or ())
    offsets = tuple(v for p in parts if p is not None for v in p.offsets or ())
    return Stored(first.dtype, scales=scales, offsets=offsets, nodata=first.nodata)
