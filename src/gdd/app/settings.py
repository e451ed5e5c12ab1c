"""The settings of one fusion run, typed and frozen: built once by the command line, read by the rest.

Nothing below the command line sees argparse, and nothing writes to these settings: values
computed on the way (estimated degradations, a learned PAN band mixture, the start chosen on the
central window) are returned and passed on as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..io.formats import IMAGE_SUFFIXES

__all__ = [
    "ROLES",
    "DegradationSettings",
    "FitSettings",
    "FuseSettings",
    "InputSettings",
    "OutputSettings",
    "TilingSettings",
]

Task = Literal["hs", "pan", "flash"]

#: The option names of each task's inputs: the low-resolution (or noisy) image, then the guide.
ROLES: dict[str, tuple[str, str]] = {"hs": ("hsi", "guide"), "pan": ("ms", "pan"), "flash": ("noisy", "guide")}


@dataclass(frozen=True)
class InputSettings:
    """The two input files and how to read them.

    Attributes:
        files: the files by role name (``{"ms": ..., "pan": ...}``), low resolution first.
        factor: the resolution ratio (1 for flash).
    """

    files: tuple[tuple[str, str], ...]
    factor: int = 1
    bit_depth: int | None = None
    layout: Literal["auto", "hwc", "chw"] = "auto"
    nodata: float | None = None
    reference: str | None = None
    extent: Literal["same", "intersection"] = "same"

    @property
    def names(self) -> tuple[str, str]:
        (lr, _), (hr, _) = self.files
        return lr, hr

    def spec(self, name: str) -> str:
        return dict(self.files)[name]

    def read_options(self) -> dict[str, Any]:
        return {"bit_depth": self.bit_depth, "layout": self.layout, "nodata": self.nodata}


@dataclass(frozen=True)
class DegradationSettings:
    """How the observations relate to the result (what is given, what is to be estimated).

    Attributes:
        srf: hs: the response file, or ``"estimate"``.
        spatial: hs: ``block``/``gaussian``/``bicubic``/``mtf`` (None: block); pan: ``bicubic``,
            ``mtf`` or ``estimate``.
        blur: hs: a kernel file, or ``"estimate"``.
        srf_support: hs: with ``srf="estimate"``, the HS bands each guide band may respond to.
        normalize_srf: hs: scale the given response's rows to sum 1.
        check: hs: compare the given response and blur with ones estimated from the pair, and
            use those where they predict the pair's unseen half better (with held-out
            validation; a tiled run checks on its central window; ``--keep-degradations``
            turns it off).
        full_resolution, sensor, tile_mixing: pan only.
        gnyq: pan: the MS bands' MTF gains at Nyquist given by hand (one for all, or one per band),
            instead of ``sensor``'s.
    """

    srf: str | None = None
    spatial: str | None = None
    blur: str | None = None
    srf_support: tuple[tuple[int, int], ...] | None = None
    normalize_srf: bool = True
    check: bool = True
    full_resolution: bool = False
    sensor: str = "none"
    gnyq: tuple[float, ...] | None = None
    tile_mixing: Literal["per-tile", "shared"] = "per-tile"
    response: Any = None
    """hs: the ``srf`` file's response on the HS image's bands (K x C), resolved once from its
    wavelengths (:func:`gdd.app.degradations.with_response`); None: the file is read as a matrix."""

    def wants(self, task: str) -> tuple[bool, bool]:
        """Whether the response and the spatial degradation are to be estimated from the pair."""
        if task == "hs":
            return self.srf == "estimate", self.blur == "estimate"
        if task == "pan":
            return False, self.spatial == "estimate"
        return False, False


@dataclass(frozen=True)
class FitSettings:
    """The fit: device and budget resolved, the preset's overrides and the fast-path switches.

    Attributes:
        device: the resolved device (``"cpu"``, ``"cuda"``, ``"mps"``).
        budget: the resolved preset budget (``"authors"`` or ``"cpu"``).
        overrides: preset fields that the user set (``init``, ``keep_best`` ...), as pairs.
        fast: the fast-path switches of :class:`gdd.fusion.FitConfig` that the user set, as pairs.
        steps: the steps of the whole fit, every start counted (for the progress bar).
    """

    device: str
    budget: Literal["authors", "cpu"]
    iterations: int | None = None
    width: int | None = None
    seed: int = 0
    overrides: tuple[tuple[str, Any], ...] = ()
    fast: tuple[tuple[str, Any], ...] = ()
    steps: int = 0

    def solve_options(self, **more: Any) -> dict[str, Any]:
        """The keywords of :func:`gdd.problems.solve` (``more`` overriding the preset's overrides)."""
        return {
            "device": self.device,
            "seed": self.seed,
            "budget": self.budget,
            "iterations": self.iterations,
            "width": self.width,
            "fast": dict(self.fast) or None,
            **{**dict(self.overrides), **more},
        }


@dataclass(frozen=True)
class TilingSettings:
    tile: int | Literal["auto", "none"] = "auto"
    overlap: int | Literal["auto"] = "auto"
    keep_tiles: bool = False


@dataclass(frozen=True)
class OutputSettings:
    """Where the result goes and what else is written.

    Attributes:
        dtype: float32, uint16 (scaled by the bit depth) or ``input`` (the low-resolution input's
            type and scale).
        creation: GDAL creation options of a ``.tif`` result (``--co KEY=VALUE``).
        command: the command line that made the result, recorded in a GeoTIFF's tags.
    """

    out: Path
    json: str | None = None
    dtype: Literal["float32", "uint16", "input"] = "float32"
    creation: tuple[tuple[str, str], ...] = ()
    command: str | None = None
    force: bool = False
    quiet: bool = False
    report: str | None = None
    bands: tuple[int, ...] | None = None
    stretch: tuple[float, float] = (1.0, 99.0)
    pixels: tuple[tuple[int, int], ...] | None = None

    @property
    def preview(self) -> Path:
        """``STEM.png`` beside the result (``STEM.preview.png`` when the result is itself a picture).

        A photo's result (``holiday.jpg``) is kept apart from the photos beside it (``holiday.png``).
        """
        if self.out.suffix.lower() in IMAGE_SUFFIXES:
            return self.out.with_name(self.out.stem + ".preview.png")
        return self.out.with_name(self.out.stem + ".png")

    def beside(self, suffix: str) -> Path:
        """A file written beside the result: ``STEM.suffix``."""
        return self.out.with_name(f"{self.out.stem}.{suffix}")


@dataclass(frozen=True)
class FuseSettings:
    """Everything one ``gdd hs|pan|flash`` run needs.

    Attributes:
        options: every option of the command as given (name, value), sorted by name, for the
            tiled run's plan and the JSON record; plain values only.
        unplanned: the options that change neither a tile's pixels nor the blend (a tiled run
            may resume with other values of these).
    """

    task: Task
    inputs: InputSettings
    degradation: DegradationSettings
    fit: FitSettings
    tiling: TilingSettings
    outputs: OutputSettings
    options: tuple[tuple[str, Any], ...] = ()
    unplanned: frozenset[str] = field(default_factory=frozenset)
