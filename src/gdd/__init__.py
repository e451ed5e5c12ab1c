"""gdd: unsupervised image-pair fusion with the Guided Deep Decoder (Uezato et al., ECCV 2020)."""

from __future__ import annotations

__version__ = "0.1.0"

from .fusion import FitConfig, FitResult, Term, fit
from .models import GuidedDeepDecoder
from .problems import PRESETS, flash_problem, hs_problem, pan_problem, solve

__all__ = [
    "PRESETS",
    "FitConfig",
    "FitResult",
    "GuidedDeepDecoder",
    "Term",
    "__version__",
    "fit",
    "flash_problem",
    "hs_problem",
    "pan_problem",
    "solve",
]
