"""Moved to :mod:`gdd.fusion` (``from gdd.fusion import fit_many``); this module goes once nothing imports it."""

from .fusion import fit_many

__all__ = ["fit_many"]
