"""Where a benchmark's figures come from: the commit of the tree it ran on, for its record."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def commit(*, short: bool = False) -> str:
    """The commit of the benchmarks' tree.

    ``GDD_COMMIT`` names it where the caller knows better than git (a copied tree whose git
    metadata is not its own, or a machine without git); else git's ``HEAD`` (abbreviated with
    ``short``); ``"unknown"`` without either.
    """
    named = os.environ.get("GDD_COMMIT", "").strip()
    if named:
        return named
    argv = ["git", "rev-parse", *(["--short"] if short else []), "HEAD"]
    try:
        done = subprocess.run(argv, cwd=HERE, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip() or "unknown"
