"""The PAN's band weights and the MS sensor's MTF gain of an MS + PAN pair.

For pansharpening (``y_lr`` the MS image, ``guide`` the PAN) R is the PAN's band weights and S
the MS sensor's MTF (the Gaussian model of :mod:`gdd.sensors`), whose one parameter, the gain at
the Nyquist frequency, is found by a bounded scalar search (:func:`estimate_pan_degradation`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import lsq_linear, minimize_scalar
from torch import Tensor

from ..operators import MTFDownsample
from .lstsq import CONSISTENCY_THRESHOLD, check_pair, interior, residuals, to_like

__all__ = ["PanEstimate", "estimate_pan_degradation", "fit_pan"]


@dataclass(frozen=True)
class PanEstimate:
    """The estimated degradations of an MS + PAN pair (:func:`estimate_pan_degradation`).

    Attributes:
        weights: (C,) PAN band weights: PAN = weights @ x + intercept per pixel.
        intercept: the constant of that relation (0 without ``intercept=True``).
        gnyq: the MS sensor's MTF gain at the low-resolution Nyquist frequency.
        residual: unexplained share of the degraded PAN's variation.
    """

    weights: Tensor
    intercept: float
    gnyq: float
    residual: float

    @property
    def consistent(self) -> bool:
        """Whether the residual is under :data:`gdd.estimate.CONSISTENCY_THRESHOLD`."""
        return self.residual < CONSISTENCY_THRESHOLD


def fit_pan(ms: Tensor, pan: Tensor, ratio: int, gnyq: float, intercept: bool) -> tuple[np.ndarray, float, float]:
    """Weights (and constant) regressing the MS bands on the MTF-degraded PAN, and the residual.

    ``ms`` and ``pan`` are float64 CPU images (:func:`gdd.estimate.lstsq.check_pair`).
    """
    target = MTFDownsample(ratio, gnyq)(pan)[0, 0]
    pad = 20  # the 41-tap filter's half width: leave out pixels that see the replicated border
    rows = interior(ms.shape[-2], ratio, pad, 2 * pad + ratio)
    cols = interior(ms.shape[-1], ratio, pad, 2 * pad + ratio)
    t = target[rows, cols].reshape(-1).numpy()
    a = ms[0][:, rows, cols].reshape(ms.shape[1], -1).numpy().T
    if intercept:
        a = np.hstack([a, np.ones((a.shape[0], 1))])
        lo = np.r_[np.zeros(ms.shape[1]), -np.inf]
    else:
        lo = np.zeros(ms.shape[1])
    sol = lsq_linear(a, t, bounds=(lo, np.inf), method="bvls").x
    res, _ = residuals((a @ sol)[None], t[None])
    return sol[: ms.shape[1]], float(sol[-1]) if intercept else 0.0, res


def estimate_pan_degradation(
    ms: Tensor,
    pan: Tensor,
    ratio: int,
    *,
    gnyq: float | None = None,
    intercept: bool = True,
    bounds: tuple[float, float] = (0.05, 0.7),
) -> PanEstimate:
    """The PAN's band weights and the MS sensor's MTF gain from an MS + PAN pair.

    For a gain g, w(g) solves  min_{w >= 0, b}  ||D(h_g * pan) - w^T ms - b||^2,  with h_g the
    MTF-matched Gaussian filter of :mod:`gdd.sensors` and D the decimation of
    :class:`gdd.operators.MTFDownsample`; g minimises that residual over ``bounds`` (a bounded
    scalar search; the residual is smooth in g). Pixels that see the image border are left out.

    Args:
        ms: (1, C, h, w) multispectral image.
        pan: (1, 1, h r, w r) panchromatic image.
        ratio: resolution ratio r.
        gnyq: a known gain: only the weights are estimated.
        intercept: fit a constant too (radiometric offsets between the sensors).
        bounds: the interval searched for the gain.

    Returns:
        a :class:`PanEstimate` (weights on the PAN's device and dtype).

    Example:
        >>> import torch
        >>> x = torch.rand(1, 4, 96, 96, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> d = estimate_pan_degradation(MTFDownsample(2, 0.3)(x), x.mean(1, keepdim=True), 2)
        >>> round(d.gnyq, 2), [round(w, 2) for w in d.weights.tolist()]
        (0.3, [0.25, 0.25, 0.25, 0.25])
    """
    lr, hr, ratio = check_pair(ms, pan, ratio, ("ms", "pan"))
    if hr.shape[1] != 1:
        raise ValueError(f"pan must have one band, got {hr.shape[1]}")
    lo, hi = (float(b) for b in bounds)
    if not 0 < lo < hi < 1:
        raise ValueError(f"bounds must satisfy 0 < low < high < 1, got {bounds!r}")
    if gnyq is None:
        best = minimize_scalar(
            lambda g: fit_pan(lr, hr, ratio, float(g), intercept)[2],
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-3},
        )
        gnyq = float(best.x)
    elif not 0 < gnyq < 1:
        raise ValueError(f"gnyq must be in (0, 1), got {gnyq!r}")
    weights, const, res = fit_pan(lr, hr, ratio, float(gnyq), intercept)
    return PanEstimate(weights=to_like(weights, pan), intercept=const, gnyq=float(gnyq), residual=res)
