"""The ``gdd`` command line: ``gdd hs|pan|flash|eval|simulate|bench|batch|demo``; ``main(argv) -> exit code``.

The options are one table (:mod:`gdd.cli.options`); the parser is built from it, the fusion
commands' options become frozen settings once (:func:`gdd.cli.fusion.fusion_settings`), and the
code below the command line never sees argparse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .parser import build_parser

__all__ = ["build_parser", "main", "main_entry"]

if TYPE_CHECKING:
    from .commands import main, main_entry


def __getattr__(name: str) -> Any:
    # main is imported on first use: the batch package reads the option table and the parser
    # from here without importing the commands (which import the batch package).
    if name in ("main", "main_entry"):
        import importlib

        return getattr(importlib.import_module(".commands", __name__), name)
    raise AttributeError(f"module 'gdd.cli' has no attribute {name!r}")
