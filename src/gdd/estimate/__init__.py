"""The degradations of a pair, estimated from the pair: spectral response, blur kernel, MTF gain.

Fusion needs to know how each observation was made from the unknown image x: the low-resolution
image is ``y_lr = S x`` (blur and decimation) and the guide ``guide = R x`` (spectral response).
Spatial and spectral degradations commute, so the pair itself relates them without x (HySure,
Simoes et al., IEEE TGRS 2015):

    R y_lr = S guide.

With S fixed this is a linear least-squares problem in R, solved per guide band with R >= 0 and a
penalty on second differences across wavelengths (responses are smooth), optionally inside a
given support (:mod:`gdd.estimate.response`); with R fixed it is linear in the blur kernel k of
S, solved with k >= 0, sum(k) = 1 and a penalty on the kernel's first differences
(:mod:`gdd.estimate.kernel`). With neither known the relation is still linear in both together,
and :func:`estimate_degradation` solves for both at once (:mod:`gdd.estimate.joint`), from the
central :data:`ESTIMATE_WINDOW` x :data:`ESTIMATE_WINDOW` low-resolution pixels of a larger pair
(its memory grows with the pixels read). The kernel lives on the high-resolution grid and is
larger than the factor, so that a registration offset between the two images shows up as an
off-centre kernel.

For pansharpening (``y_lr`` the MS image, ``guide`` the PAN) R is the PAN's band weights and S
the MS sensor's MTF (the Gaussian model of :mod:`gdd.sensors`), whose one parameter, the gain at
the Nyquist frequency, is found by a bounded scalar search (:func:`estimate_pan_degradation`,
:mod:`gdd.estimate.pan`).

Given degradations are checked against estimated ones on the half of the pair the estimate did
not see (:func:`check_degradations`, :mod:`gdd.estimate.check`); ``gdd hs`` fits under the
estimated ones where they predict the pair better.

Every estimate reports its residual: the share of the degraded guide's variation (its deviation
from each band's mean) that ``R y_lr`` leaves unexplained. A pair that fits the model leaves
little (noise, a few per cent); a large residual means the pair does not look consistent
(misregistered, different dates or scenes, a nonlinear guide) and the fusion will be poor. The
shared least-squares machinery is :mod:`gdd.estimate.lstsq`.
"""

from __future__ import annotations

from .check import DegradationCheck, check_degradations
from .joint import ESTIMATE_WINDOW, Degradation, estimate_degradation
from .kernel import block_kernel, estimate_kernel, kernel_offset
from .lstsq import CONSISTENCY_THRESHOLD
from .pan import PanEstimate, estimate_pan_degradation
from .response import estimate_srf, pair_residual

__all__ = [
    "CONSISTENCY_THRESHOLD",
    "ESTIMATE_WINDOW",
    "Degradation",
    "DegradationCheck",
    "PanEstimate",
    "block_kernel",
    "check_degradations",
    "estimate_degradation",
    "estimate_kernel",
    "estimate_pan_degradation",
    "estimate_srf",
    "kernel_offset",
    "pair_residual",
]
