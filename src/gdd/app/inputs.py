"""The checks of a run's inputs and outputs, made once for either plan (one fit or tiles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checks import sizes_at_factor
from ..io import InputError, Layout, Raster, read_image, split_spec, to_tensor
from .settings import FuseSettings

__all__ = [
    "check_free",
    "check_output_type",
    "check_pair",
    "load_reference",
    "nodata_value",
    "output_meta",
    "tile_and_overlap",
]


def check_free(path: str | Path | None, what: str, force: bool) -> None:
    """Refuse to overwrite an existing file the run would write, unless ``force``."""
    if path and Path(path).exists() and not force:
        raise InputError(f"{what} {path} exists; use --force to overwrite it")


#: How the problems name the low-resolution input in their errors.
_LOW = {"hs": "the HS image", "pan": "the MS image"}


def check_pair(s: FuseSettings, lr_shape: tuple[int, ...], hr_shape: tuple[int, ...], lr: Raster, hr: Raster) -> None:
    """The two inputs make a pair: the guide ``factor`` times the low-resolution image, one coordinate system."""
    lr_name, hr_name = s.inputs.names
    files = ", ".join(f"{n} {split_spec(s.inputs.spec(n))[0].name}" for n in (lr_name, hr_name))
    (h, w), (lh, lw) = hr_shape[:2], lr_shape[:2]
    try:
        if s.task == "flash":
            if (lh, lw) != (h, w):
                raise ValueError(
                    f"the no-flash image is {lh} x {lw} but the flash image {h} x {w}: they must be the same size"
                )
        else:
            sizes_at_factor((lh, lw), (h, w), s.inputs.factor, _LOW[s.task])
    except ValueError as exc:
        raise InputError(f"{files}: {exc}") from None
    if lr.crs and hr.crs and lr.crs != hr.crs:
        raise InputError(f"{lr_name} and {hr_name} are in different coordinate systems; reproject one first")


def nodata_value(s: FuseSettings, metas: tuple[Raster, Raster]) -> float | None:
    """The value that marks nodata in the output: the one given, else the first the inputs declare."""
    if s.inputs.nodata is not None:
        return s.inputs.nodata
    return next((m.nodata for m in metas if m.nodata is not None), None)


def check_output_type(s: FuseSettings, *, masked: bool, nodata: float | None) -> None:
    """A uint16 output holds 16 bits, and marks nodata pixels with an integer it can hold."""
    if s.outputs.dtype != "uint16":
        return
    bits = s.inputs.bit_depth
    if bits is not None and bits > 16:
        raise InputError(f"a uint16 output holds at most 16 bits, not --bit-depth {bits}")
    if masked and (nodata is None or not (0 <= nodata <= 65535 and nodata == int(nodata))):
        raise InputError(
            f"a uint16 output with nodata pixels needs an integer --nodata in 0..65535 to mark them, got {nodata}"
        )


def load_reference(spec: str, shape: torch.Size, bit_depth: int | None = None, layout: Layout = "auto") -> torch.Tensor:
    """The ground truth as (1, C, H, W), checked against the result's shape."""
    ref = to_tensor(read_image(spec, name="reference", bit_depth=bit_depth, layout=layout))
    if ref.shape != shape:
        raise InputError(
            f"reference {spec}: {ref.shape[2]} x {ref.shape[3]} x {ref.shape[1]}, "
            f"the result {shape[2]} x {shape[3]} x {shape[1]}"
        )
    return ref


def output_meta(s: FuseSettings, lr: Raster, hr: Raster) -> Raster:
    """What the result file carries: the guide's grid (or the low-res grid refined), the low-res bands' names."""
    unread = [n for n, r in zip(s.inputs.names, (lr, hr)) if r.geotiff_unread]
    if unread and s.outputs.out.suffix.lower() in (".tif", ".tiff"):
        spec = split_spec(s.inputs.spec(unread[0]))[0]
        raise InputError(
            f"{unread[0]} {spec}: a GeoTIFF; keeping its georeferencing needs rasterio: pip install 'gdd[geo]'"
        )
    transform = hr.transform
    if transform is None and lr.transform is not None:
        f = s.inputs.factor
        a, b, c, d, e, g = lr.transform
        transform = (a / f, b / f, c, d / f, e / f, g)
    return Raster(
        data=np.empty((0, 0, 0), np.float32),
        crs=hr.crs or lr.crs,
        transform=transform,
        descriptions=lr.descriptions,
        wavelengths=lr.wavelengths,
    )


def tile_and_overlap(s: FuseSettings, tile: int) -> tuple[int, int]:
    """The tile side with its overlap: the one given, or an eighth of the tile (a multiple of the factor)."""
    factor = s.inputs.factor
    if s.tiling.overlap == "auto":
        return tile, max(factor, tile // 8 // factor * factor)
    return tile, int(s.tiling.overlap)
