"""Fusion of arrays: NumPy arrays, or rioxarray DataArrays, in; the same kind out.

:func:`pansharpen`, :func:`fuse_hs` and :func:`denoise` run the same fusion as ``gdd pan``,
``gdd hs`` and ``gdd flash`` (the task's preset for the device, the held-out choices) on arrays
in memory, the way data of this field is held in Python:

- a NumPy array is H x W x C (H x W for one band), the result H x W x C float32;
- an ``xarray.DataArray`` (the ``xarray`` extra) has a ``band`` dimension and two spatial ones
  (rioxarray's ``(band, y, x)``, in any order); the result is a DataArray ``(band, y, x)`` on the
  high-resolution input's coordinates, with the low-resolution input's band coordinate and
  attributes, and the high-resolution input's CRS and transform (written with rioxarray).

Integer arrays are scaled as the command line does (8-bit by 255, wider by 65535, or by ``bit_depth``); the
result is in that [0, 1] scale. The resolution ratio is read from the shapes when it is not given.

Nodata, as the command line treats a file's: pixels with the ``nodata`` value in any band
(``nodata=np.nan``: NaN or Inf) are left out of the fit and are NaN in the result. A DataArray
says its own: a ``_FillValue`` (``rioxarray.open_rasterio(path)``), or NaN where it was opened
with ``masked=True``; one opened so from integers (its ``encoding`` keeps their type) is scaled
by that type's range, and one with scales and offsets (rioxarray's ``scale_factor`` and
``add_offset``, or ``scales`` and ``offsets`` per band, picked by the band coordinate's numbers
after ``.sel(band=...)``) gives its physical values, as ``gdd`` reads the file. NaN in an array
that declares no nodata is refused.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch

from .arrayfit import check_settings, fuse, window_mask
from .io import InputError, MissingFileError
from .io.arrays import STORED, crs, grid_transform, is_dataarray, ratio_of, read_array, spatial_dims

__all__ = ["denoise", "fuse_hs", "pansharpen"]


def check_grids(low: Any, high: Any, ratio: int, names: tuple[str, str]) -> None:
    """Two georeferenced DataArrays lie on one grid, the low-resolution one coarser by ``ratio``.

    As the command line checks two files (:func:`gdd.checks.grid_mismatch`): one coordinate
    system, and the corners meeting with the low-resolution pixel ``ratio`` fine ones. Only
    arrays that both have a coordinate system (rioxarray's) are checked, the grid where both
    have one (:func:`gdd.io.arrays.grid_transform`).
    """
    if not (is_dataarray(low) and is_dataarray(high)):
        return
    (lo, hi), (first, second) = (crs(low), crs(high)), names
    if lo is None or hi is None:
        return
    if lo != hi:
        raise InputError(f"{first} and {second} are in different coordinate systems; reproject one first")
    grids = grid_transform(low), grid_transform(high)
    if grids[0] is None or grids[1] is None:
        return
    from .checks import grid_mismatch

    rows, cols = spatial_dims(low)
    problem = grid_mismatch(grids[0], grids[1], ratio, size=(int(low.sizes[rows]), int(low.sizes[cols])))
    if problem:
        raise InputError(
            f"{first} and {second} are not on one grid: {problem}; resample one onto the other's grid "
            "(rio.reproject_match)"
        )


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.moveaxis(a, -1, 0).copy())[None]


#: A DataArray's attributes a result does not take: its stored values' and its file's description,
#: and one band's tags that rioxarray gives the whole array (a result's bands are on ``band``).
_NOT_CARRIED = (*STORED, "TIFFTAG_IMAGEDESCRIPTION", "wavelength", "fwhm", "CENTRAL_WAVELENGTH_UM", "FWHM_UM")


def _like(x: torch.Tensor, low: Any, high: Any, layout: str | None = None) -> Any:
    """The result (1, C, H, W) as the kind of array the caller gave: NumPy H x W x C (C x H x W) or a DataArray."""
    out = np.moveaxis(x.detach().float().cpu().numpy()[0], 0, -1).astype(np.float32)
    if not is_dataarray(high):
        return np.ascontiguousarray(np.moveaxis(out, -1, 0)) if layout == "chw" else out
    import xarray as xr

    y, x_dim = spatial_dims(high)
    bands = low.coords["band"].values if is_dataarray(low) and "band" in low.coords else np.arange(1, out.shape[-1] + 1)
    result = xr.DataArray(
        np.moveaxis(out, -1, 0),
        dims=("band", y, x_dim),
        coords={"band": bands, **{d: high.coords[d].values for d in (y, x_dim) if d in high.coords}},
        # Not what described the input's stored values or file: the result holds float32 values.
        attrs={k: v for k, v in low.attrs.items() if k not in _NOT_CARRIED} if is_dataarray(low) else {},
        name=getattr(low, "name", None),
    )
    for name, coord in low.coords.items() if is_dataarray(low) else ():
        if name not in (y, x_dim, "spatial_ref") and coord.dims == ("band",):
            result = result.assign_coords({name: ("band", coord.values)})
    system = crs(high)
    if system is not None:
        from affine import Affine

        result = result.rio.write_crs(system)
        grid = grid_transform(high)
        if grid is not None:
            result = result.rio.write_transform(Affine(*grid))
    # NaN is the result's nodata, declared whether or not a pixel has none: the input's stored
    # nodata value is no float32 result's, and a raster written from it says which value is none.
    if system is not None:
        result = result.rio.write_nodata(np.nan, encoded=False)
    else:
        result.attrs["_FillValue"] = np.nan
    return result


def pansharpen(
    ms: Any,
    pan: Any,
    *,
    ratio: int | None = None,
    sensor: str = "none",
    gnyq: Any = None,
    spatial: str = "auto",
    bit_depth: int | None = None,
    nodata: float | None = None,
    layout: str | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: bool = False,
    **options: Any,
) -> Any:
    """Pansharpen: the MS image at the PAN's resolution (``gdd pan`` on arrays).

    Args:
        ms: the multispectral image, h x w x C (NumPy) or a DataArray with a ``band`` dimension.
        pan: the panchromatic image, H x W (or H x W x 1, or a DataArray), H = ratio h.
        ratio: the resolution ratio (default: from the shapes).
        sensor: the MS sensor whose MTF gains model its blur (:data:`gdd.sensors.SENSORS`;
            ``"none"``: 0.29 per band).
        gnyq: the MS bands' MTF gains at Nyquist for a sensor not in that table: one number for
            every band or one per band (instead of ``sensor``'s).
        spatial: the MS degradation, ``"auto"`` (chosen on held-out pixels), ``"bicubic"`` or ``"mtf"``.
        bit_depth: integer arrays are divided by 2^bit_depth - 1 (default: 255 for 8-bit types, else 65535).
        nodata: pixels with this value in any band of either input (``np.nan``: NaN or Inf) are
            left out of the fit and are NaN in the result (default: a DataArray's own nodata;
            see the module's docstring).
        layout: the axis order of NumPy arrays and tensors: ``"chw"`` for bands first
            (rasterio's ``read()`` and PyTorch's order; the result is then C x H x W too),
            ``"hwc"`` for bands last. Default: bands last, refusing an array whose first axis is
            at most 4 long and shorter than both others (one bands first, read the other way).
            A DataArray's dimensions name its axes.
        tile: fuse in overlapping tiles of ``tile`` x ``tile`` high-resolution pixels (a multiple
            of the ratio), one fit each, blended without seams: for scenes too large for one
            fit. Default: one fit.
        overlap: pixels shared by neighbouring tiles (default: an eighth of the tile).
        device, seed: as :func:`gdd.problems.solve`.
        progress: show a progress bar of the fit's steps (of each tile's fit) on standard error.
        options: more :func:`gdd.problems.solve` settings (``iterations``, ``width``, ``budget``,
            ``fast`` and the preset's fields).

    Returns:
        The fused image, H x W x C float32 (C x H x W with ``layout="chw"``), or a DataArray
        ``(band, y, x)`` on the PAN's grid.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> fused = pansharpen(rng.random((8, 8, 3)), rng.random((32, 32)), iterations=2, width=8, device="cpu")
        >>> fused.shape, fused.dtype
        ((32, 32, 3), dtype('float32'))
    """
    from .problems import pan_problem
    from .sensors import ms_gains

    check_settings("pan", device, seed, bit_depth, tile, overlap, options)
    ms_a, ms_m = read_array(ms, "ms", bit_depth, nodata, layout)  # called here: its warnings name the caller's line
    pan_a, pan_m = read_array(pan, "pan", bit_depth, nodata, layout)
    if pan_a.shape[-1] != 1:
        raise InputError(f"pan: expected one band, got {pan_a.shape[-1]}")
    r = ratio_of(ms_a, pan_a, ratio, ("ms", "pan"))
    check_grids(ms, pan, r, ("ms", "pan"))
    try:
        gains = ms_gains(sensor, ms_a.shape[-1], None if gnyq is None else np.atleast_1d(gnyq).tolist())
    except ValueError as exc:
        raise InputError(f"ms: {exc}") from None
    first, second = _tensor(ms_a), _tensor(pan_a)

    def make(low: tuple[slice, slice], high: tuple[slice, slice], **settings: Any) -> Any:
        ms_w, pan_w = first[..., low[0], low[1]].contiguous(), second[..., high[0], high[1]].contiguous()
        return pan_problem(
            ms_w, pan_w, r, **{"spatial": spatial, "gnyq": tuple(gains), **settings},
            ms_mask=window_mask(ms_m, low), pan_mask=window_mask(pan_m, high),
        )  # fmt: skip

    masks = (ms_m, pan_m)
    fused = fuse(make, pan_a.shape[:2], r, tile, overlap, device, int(seed), options, masks, ("ms", "pan"), progress)
    return _like(fused, ms, pan, layout)


def fuse_hs(
    hsi: Any,
    guide: Any,
    srf: Any,
    *,
    factor: int | None = None,
    spatial: str = "block",
    bit_depth: int | None = None,
    nodata: float | None = None,
    layout: str | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: bool = False,
    wavelengths: Any = None,
    **options: Any,
) -> Any:
    """Fuse a hyperspectral image with an RGB/MS guide (``gdd hs`` on arrays).

    Args:
        hsi: the low-resolution HS image, h x w x C (NumPy) or a DataArray with a ``band`` dimension.
        guide: the high-resolution guide, H x W x K, H = factor h.
        srf: the guide's spectral response, K x C (each row the weights of one guide band; C x K
            is taken too); a response as ``gdd hs --srf`` takes it (a built-in such as
            ``"cie1931"``, a file, a satellite ``.mat`` with its rows), tabulated by wavelength
            and resampled onto the HS bands' ``wavelengths``; or ``"estimate"``: the response and
            the blur estimated from the pair (:func:`gdd.estimate.estimate_degradation`), the
            blur then replacing ``spatial``.
        factor: the resolution ratio (default: from the shapes).
        spatial: the HS image's degradation: ``"block"`` (average of factor x factor blocks),
            ``"gaussian"``, ``"bicubic"`` or ``"mtf"``.
        wavelengths: the HS bands' centres in nm, for a response tabulated by wavelength
            (default: a DataArray's ``wavelength`` coordinate on its bands; without them, a
            table on as many wavelengths as the HS image has bands is taken as on them).
        bit_depth, nodata, layout, tile, overlap, device, seed, progress, options: as :func:`pansharpen`
            (with ``srf="estimate"`` the response and the blur are estimated once, on the scene's
            central pixels (:data:`gdd.estimate.ESTIMATE_WINDOW`), for every tile).

    Returns:
        The fused cube, H x W x C float32 (C x H x W with ``layout="chw"``), or a DataArray
        ``(band, y, x)`` on the guide's grid.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> srf = rng.random((3, 6))
        >>> cube = fuse_hs(rng.random((8, 8, 6)), rng.random((32, 32, 3)), srf, iterations=2, width=8, device="cpu")
        >>> cube.shape
        (32, 32, 6)
    """
    from .operators import KernelDownsample
    from .problems import hs_problem

    check_settings("hs", device, seed, bit_depth, tile, overlap, options)
    hsi_a, hsi_m = read_array(hsi, "hsi", bit_depth, nodata, layout)
    guide_a, guide_m = read_array(guide, "guide", bit_depth, nodata, layout)
    f = ratio_of(hsi_a, guide_a, factor, ("hsi", "guide"))
    check_grids(hsi, guide, f, ("hsi", "guide"))
    y, g = _tensor(hsi_a), _tensor(guide_a)
    op: Any = spatial
    if isinstance(srf, (str, os.PathLike)) and srf != "estimate":
        srf = _response(srf, hsi, wavelengths, hsi_a.shape[-1])
    if isinstance(srf, str):
        if hsi_m is not None or guide_m is not None:
            raise InputError(
                "srf='estimate': estimating the degradations cannot leave nodata pixels out; crop them away first"
            )
        from .estimate import estimate_degradation
        from .estimate.check import inconsistency, unestimable

        (h, w), k, c = hsi_a.shape[:2], guide_a.shape[-1], hsi_a.shape[-1]
        why = unestimable(h, w, k, c, f, srf=True, blur=True)
        if why:
            raise InputError(f"srf='estimate': {why}; estimate on a larger pair, or give the response")
        found = estimate_degradation(y.double(), g.double(), f)
        if text := inconsistency(found.residual):
            warnings.warn(text, UserWarning, stacklevel=2)
        response, op = found.srf.float(), KernelDownsample(found.kernel.float(), f)
    else:
        response = torch.as_tensor(np.asarray(srf, dtype=np.float32))
        # HS bands x guide bands is taken too: hs_problem turns it, as for the command line.
        if tuple(response.shape) not in ((guide_a.shape[-1], hsi_a.shape[-1]), (hsi_a.shape[-1], guide_a.shape[-1])):
            raise InputError(
                f"srf: expected {guide_a.shape[-1]} x {hsi_a.shape[-1]} (guide bands x HS bands), "
                f"got {tuple(response.shape)}"
            )

    def make(low: tuple[slice, slice], high: tuple[slice, slice], **settings: Any) -> Any:
        srf = settings.pop("srf", response)
        return hs_problem(
            y[..., low[0], low[1]].contiguous(), g[..., high[0], high[1]].contiguous(), srf, f,
            **{"spatial": op, **settings},
            hsi_mask=window_mask(hsi_m, low), guide_mask=window_mask(guide_m, high),
        )  # fmt: skip

    masks = (hsi_m, guide_m)
    fused = fuse(
        make, guide_a.shape[:2], f, tile, overlap, device, int(seed), options, masks, ("hsi", "guide"), progress
    )
    return _like(fused, hsi, guide, layout)


def _response(spec: str | os.PathLike[str], hsi: Any, wavelengths: Any, bands: int) -> np.ndarray:
    """A response named as ``gdd hs --srf`` takes it, on the HS image's bands (K x C)."""
    from .io import read_matrix
    from .simulate.responses import response_on_bands

    if wavelengths is None and is_dataarray(hsi) and "wavelength" in hsi.coords:
        wavelengths = hsi.coords["wavelength"].values
    if wavelengths is not None:
        wavelengths = np.asarray(wavelengths, dtype=np.float64).ravel()
        if wavelengths.size != bands or not np.isfinite(wavelengths).all():
            raise InputError(
                f"wavelengths: expected {bands} finite values (nm, one per HS band), got {wavelengths.size}"
            )
    try:
        found = response_on_bands(os.fspath(spec), wavelengths, bands, how="pass their wavelengths=")
    except MissingFileError as error:
        raise InputError(f"{error}; or srf='estimate' to estimate the response from the pair") from None
    return found if found is not None else read_matrix(spec, name="srf")


def denoise(
    noisy: Any,
    guide: Any,
    *,
    bit_depth: int | None = None,
    nodata: float | None = None,
    layout: str | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: bool = False,
    **options: Any,
) -> Any:
    """Denoise a no-flash photo with a flash photo of the same scene as the guide (``gdd flash`` on arrays).

    Args:
        noisy: the noisy image, H x W x C (NumPy) or a DataArray.
        guide: the guide (flash) image, H x W x K, the same size.
        bit_depth, nodata, layout, tile, overlap, device, seed, progress, options: as :func:`pansharpen`.

    Returns:
        The denoised image, H x W x C float32 (C x H x W with ``layout="chw"``), or a DataArray
        ``(band, y, x)``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> denoise(rng.random((32, 32, 3)), rng.random((32, 32, 3)), iterations=2, width=8, device="cpu").shape
        (32, 32, 3)
    """
    from .problems import flash_problem

    check_settings("flash", device, seed, bit_depth, tile, overlap, options)
    noisy_a, noisy_m = read_array(noisy, "noisy", bit_depth, nodata, layout)
    guide_a, guide_m = read_array(guide, "guide", bit_depth, nodata, layout)
    if noisy_a.shape[:2] != guide_a.shape[:2]:
        raise InputError(
            f"guide is {guide_a.shape[0]} x {guide_a.shape[1]}, noisy {noisy_a.shape[0]} x {noisy_a.shape[1]}; "
            "they must match"
        )
    check_grids(noisy, guide, 1, ("noisy", "guide"))
    first, second = _tensor(noisy_a), _tensor(guide_a)

    def make(low: tuple[slice, slice], high: tuple[slice, slice], **settings: Any) -> Any:
        return flash_problem(
            first[..., low[0], low[1]].contiguous(), second[..., high[0], high[1]].contiguous(),
            noisy_mask=window_mask(noisy_m, low), guide_mask=window_mask(guide_m, high),
        )  # fmt: skip

    masks = (noisy_m, guide_m)
    fused = fuse(
        make, guide_a.shape[:2], 1, tile, overlap, device, int(seed), options, masks, ("noisy", "guide"), progress
    )
    return _like(fused, noisy, guide, layout)
