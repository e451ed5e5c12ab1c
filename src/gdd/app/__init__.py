"""The application layer: one fusion run from files, without argparse.

``fuse(settings)`` is ``gdd hs|pan|flash`` once the command line has built its
:class:`FuseSettings`. Layers: :mod:`~gdd.app.settings` (what a run is), :mod:`~gdd.app.inputs`
(the checks of inputs and outputs), :mod:`~gdd.app.degradations` (given or estimated, and the
problem they make), :mod:`~gdd.app.driver` (the plan of windows), :mod:`~gdd.app.whole` and
:mod:`~gdd.app.tiled` (the two plans), :mod:`~gdd.app.tilestore` (finished tiles and the blend),
:mod:`~gdd.app.memory` (what one fit needs), :mod:`~gdd.app.summary` (JSON, report; the lines
the run prints are :mod:`gdd.problems.said`'s).
"""

from __future__ import annotations

from ..problems.said import choice_line, rule_line, steps_line
from .degradations import Estimates
from .driver import fuse, plan_windows, written_files
from .memory import available_memory, estimate_memory, largest_tile
from .settings import (
    ROLES,
    DegradationSettings,
    FitSettings,
    FuseSettings,
    InputSettings,
    OutputSettings,
    TilingSettings,
)
from .summary import check_report_options
from .tilestore import TileStore, blend, tile_folder

__all__ = [
    "ROLES",
    "DegradationSettings",
    "Estimates",
    "FitSettings",
    "FuseSettings",
    "InputSettings",
    "OutputSettings",
    "TileStore",
    "TilingSettings",
    "available_memory",
    "blend",
    "check_report_options",
    "choice_line",
    "estimate_memory",
    "fuse",
    "largest_tile",
    "plan_windows",
    "rule_line",
    "steps_line",
    "tile_folder",
    "written_files",
]
