"""Files <-> arrays; the only place where H x W x C numpy meets (B, C, H, W) torch.

Readers return float32 H x W x C arrays (integer images scaled to [0, 1] by their bit depth),
or a :class:`Raster` with the file's georeferencing, nodata mask, band names and wavelengths;
writers are atomic (a temporary file renamed into place), so an interrupted run leaves no half
file. Every problem a user can cause is raised as :class:`InputError` with a one-line message.
Optional formats need extras: GeoTIFF ``gdd[geo]`` (rasterio), ENVI ``gdd[envi]`` (spectral),
MATLAB v7.3 ``gdd[hdf5]`` (h5py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._common import (
    OUTPUT_SUFFIXES,
    InputError,
    MissingFileError,
    NoDataError,
    NotFiniteError,
    UsageError,
    atomic,
    check_output,
    refuse_constant,
    scale_warning,
    split_spec,
)
from .read import Layout, Raster, Stored, read_image, read_matrix, read_raster
from .sensor import SensorModel
from .windows import StripWriter, WindowReader

if TYPE_CHECKING:
    from torch import Tensor

from .preview import preview_bands, preview_georeference, to_rgb8, write_preview
from .write import OutputType, write_image, write_json

__all__ = [
    "OUTPUT_SUFFIXES",
    "InputError",
    "Layout",
    "MissingFileError",
    "NoDataError",
    "NotFiniteError",
    "OutputType",
    "Raster",
    "SensorModel",
    "Stored",
    "StripWriter",
    "UsageError",
    "WindowReader",
    "atomic",
    "check_output",
    "from_tensor",
    "preview_bands",
    "preview_georeference",
    "read_image",
    "read_matrix",
    "read_raster",
    "refuse_constant",
    "scale_warning",
    "split_spec",
    "to_rgb8",
    "to_tensor",
    "write_image",
    "write_json",
    "write_preview",
]


def to_tensor(a: np.ndarray) -> Tensor:
    """H x W x C numpy -> (1, C, H, W) float32 torch."""
    import torch  # here, not at the top: the command line's parser reads this package without torch

    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))[None]


def from_tensor(x: Tensor) -> np.ndarray:
    """(1, C, H, W) torch -> H x W x C float32 numpy."""
    return x[0].detach().float().cpu().permute(1, 2, 0).numpy()
