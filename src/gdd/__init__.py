"""gdd: unsupervised image-pair fusion with the Guided Deep Decoder (Uezato et al., ECCV 2020)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: The public names and the module each comes from; imported on first use, so that the command
#: line's parser (``gdd --help``) starts without torch.
_EXPORTS = {
    "FitConfig": "fusion",
    "FitResult": "fusion",
    "Term": "fusion",
    "fit": "fusion",
    "fit_many": "fusion",
    "GuidedDeepDecoder": "models",
    "PRESETS": "problems",
    "flash_problem": "problems",
    "hs_problem": "problems",
    "pan_problem": "problems",
    "solve": "problems",
    "solve_many": "problems",
    "pansharpen": "arrays",
    "fuse_hs": "arrays",
    "denoise": "arrays",
}

__all__ = [
    "PRESETS",
    "FitConfig",
    "FitResult",
    "GuidedDeepDecoder",
    "Term",
    "__version__",
    "denoise",
    "fit",
    "fit_many",
    "flash_problem",
    "fuse_hs",
    "hs_problem",
    "pan_problem",
    "pansharpen",
    "solve",
    "solve_many",
]

if TYPE_CHECKING:
    from .arrays import denoise, fuse_hs, pansharpen
    from .fusion import FitConfig, FitResult, Term, fit, fit_many
    from .models import GuidedDeepDecoder
    from .problems import PRESETS, flash_problem, hs_problem, pan_problem, solve, solve_many


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'gdd' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names too, before their first use (tab completion, ``dir(gdd)``)."""
    return sorted({*globals(), *__all__})
