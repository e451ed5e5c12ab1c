"""Fitting the Guided Deep Decoder: one engine, run eagerly on one problem or stacked on K.

GDD solves  min_theta  sum_k w_k * loss_k(A_k G_theta(z + n_t, guide), y_k)  with Adam, where
n_t is fresh Gaussian noise on the code at every step. :func:`fit` fits one image pair,
:func:`fit_many` K same-shape pairs in one loop (``torch.func.vmap``); both run the loop of
:mod:`gdd.fusion.engine`. Nothing here reads a ground truth: a reference is only ever seen by a
callback.

Modules: ``objective`` (the data terms and objective), ``config`` (settings, result, device),
``guard`` (the divergence guard), ``fastpath`` (channels-last, bf16, ``torch.compile``),
``engine`` (the loop), ``eager`` (:func:`fit`), ``vmapped`` (:func:`fit_many`).
"""

from __future__ import annotations

from .config import FitConfig, FitResult, deterministic, resolve_device, seeded
from .eager import fit
from .objective import Term, data_objective, gradient_mse
from .vmapped import fit_many

__all__ = [
    "FitConfig",
    "FitResult",
    "Term",
    "data_objective",
    "deterministic",
    "fit",
    "fit_many",
    "gradient_mse",
    "resolve_device",
    "seeded",
]
