"""The noise variance of a many-band image, from that image alone (HySime's band regression).

Bioucas-Dias and Nascimento, "Hyperspectral subspace identification", IEEE TGRS 2008: the bands
of a hyperspectral image are highly correlated, so each band regressed on all the others (and a
constant) over the pixels leaves mostly its noise; the residual's variance, with the degrees of
freedom of the regression taken off, estimates the band's noise variance.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["noise_variance"]


def noise_variance(y: Tensor, valid: Tensor | None = None) -> float:
    """The noise variance of a (1, C, h, w) image, averaged over its bands (HySime's band regression).

    Each band is regressed by least squares on all the other bands and a constant, over the
    pixels where ``valid`` (1, 1, h, w) is nonzero (every pixel without it); the residual's sum
    of squares over the pixels left after the C fitted coefficients is the band's noise variance.

    Returns:
        the mean over the bands; NaN for one band, or with no more valid pixels than bands.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> mixing, signals = torch.rand(31, 3, generator=g), torch.rand(3, 32 * 32, generator=g)
        >>> clean = (mixing @ signals).reshape(1, 31, 32, 32)  # 31 bands, mixtures of 3 signals
        >>> noisy = clean + 0.01 * torch.randn(1, 31, 32, 32, generator=g)  # variance 1e-4
        >>> 0.9e-4 < noise_variance(noisy) < 1.3e-4, noise_variance(clean) < 1e-12
        (True, True)
    """
    c = y.shape[1]
    bands = y[0].reshape(c, -1).detach().to("cpu", torch.float64).numpy().T
    if valid is not None:
        bands = bands[valid.reshape(-1).detach().cpu().numpy() != 0]
    n = bands.shape[0]
    if c < 2 or n <= c:
        return float("nan")
    out = []
    for i in range(c):
        others = np.hstack([np.delete(bands, i, axis=1), np.ones((n, 1))])
        beta, *_ = np.linalg.lstsq(others, bands[:, i], rcond=None)
        r = bands[:, i] - others @ beta
        out.append(float(r @ r) / (n - others.shape[1]))
    return float(np.mean(out))
