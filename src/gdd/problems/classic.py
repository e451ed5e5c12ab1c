"""The classic fusions GDD starts from, and the rule that chooses the pansharpening start.

The classic methods live in :mod:`gdd.baselines`; this module names them for each task, builds
a problem's classic image, keeps a start within reach of the data (:func:`tame`), and measures
how well the MS bands explain the PAN (:func:`pan_linearity`), which decides ``init="auto"``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import single_image
from ..operators import LinearOperator, imresize

__all__ = [
    "PAN_LINEAR_R2",
    "PAN_STARTS",
    "classic_method",
    "consistent",
    "hs_classic",
    "pan_classic",
    "pan_linearity",
    "pan_start",
    "tame",
]

#: ``init="auto"`` for pansharpening: at or above this share of the PAN's variance (reduced to
#: the MS grid) explained by a linear mixture of the MS bands, the authors' PAN term (a learned
#: band mixture matched to the PAN's gradients) describes the pair and GDD starts warm from GSA
#: with its own output; below it, from SFIM as a residual, which keeps SFIM's spectra where the
#: PAN does not see a band. Measured: pan_im4 0.9993, Landsat-7 at reduced resolution 0.93 (the
#: WorldView-3 and Landsat-7 pairs at full resolution 0.82 and 0.60). Used only without held-out
#: pixels (``holdout=0``); the presets choose the start on held-out MS pixels.
PAN_LINEAR_R2 = 0.99

#: The candidates of ``init="auto"`` for pansharpening and how each is started from (residual or
#: not); with held-out validation the one whose image predicts the held-out MS pixels best is
#: chosen (:func:`gdd.problems.holdout.choose_start`), without it :data:`PAN_LINEAR_R2` decides.
PAN_STARTS: dict[str, bool] = {"gsa": False, "sfim": True}

_HS_ALIASES = {"gsa": "gsa_hs", "sfim": "sfim_hs", "glp": "glp_hs"}


def classic_method(task: str, name: str) -> str:
    """The baseline registry key of a classic start by name (``"gsa"`` is GSA-HS for ``hs``).

    Raises:
        ValueError: for a task without classic methods or a name it does not have.
    """
    from ..baselines import HS_FUSION, PANSHARPENING

    key = name.replace("-", "_")
    if task == "pan":
        if key not in PANSHARPENING:
            raise ValueError(
                f"unknown classic method {name!r} for pansharpening; use one of {', '.join(PANSHARPENING)}"
            )
        return key
    if task == "hs":
        key = _HS_ALIASES.get(key, key)
        if key != "exp" and key not in HS_FUSION:
            raise ValueError(f"unknown classic method {name!r} for HS fusion; use one of exp, {', '.join(HS_FUSION)}")
        return key
    raise ValueError(f"the {task} task has no classic method to start from; use 'none'")


def hs_classic(
    name: str, hsi: Tensor, guide: Tensor, srf: Tensor, factor: int, spatial: str | LinearOperator
) -> Tensor:
    """The classic HS fusion ``name`` (:func:`classic_method`) of an HS image and its guide.

    Args:
        name: a classic method of the ``hs`` task; ``"exp"`` is the bicubic upsampling.
        hsi: low-resolution HS image (1, C, h, w).
        guide: high-resolution RGB/MS image (1, K, h * factor, w * factor).
        srf: response matrix (K, C).
        factor: resolution ratio.
        spatial: the HS degradation of the problem; a named one is passed on as ``"gaussian"``
            (``"gaussian"``, ``"mtf"``) or ``"block"`` (the others), an operator as it is.
    """
    from ..baselines import HS_FUSION

    key = classic_method("hs", name)
    if key == "exp":
        return imresize(hsi, scale=factor)
    kind: str | LinearOperator = spatial
    if isinstance(spatial, str):
        kind = "gaussian" if spatial in ("gaussian", "mtf") else "block"
    return HS_FUSION[key](hsi, guide, factor=factor, srf=srf, spatial=kind)


def pan_classic(name: str, ms: Tensor, pan: Tensor, ratio: int) -> Tensor:
    """The classic pansharpening ``name`` (:func:`classic_method`) of an MS image (1, C, h, w) and its PAN."""
    from ..baselines import PANSHARPENING

    return PANSHARPENING[classic_method("pan", name)](ms, pan, ratio=ratio)


def pan_linearity(
    ms: Tensor, pan: Tensor, ratio: int, *, ms_mask: Tensor | None = None, pan_mask: Tensor | None = None
) -> float:
    """R²: the share of the PAN's variance, reduced to the MS grid (MATLAB's bicubic), that a
    linear mixture of the MS bands with an offset explains (least squares over the pixels with
    data in both images)."""
    ms, pan = single_image(ms, "ms").float().double(), single_image(pan, "pan").float().double()
    low = imresize(pan, scale=1 / ratio)
    a = ms[0].reshape(ms.shape[1], -1).T
    y = low.reshape(-1)
    keep = torch.ones_like(y, dtype=torch.bool)
    if ms_mask is not None:
        keep &= ms_mask.reshape(-1) > 0
    if pan_mask is not None:
        keep &= imresize(pan_mask.double(), scale=1 / ratio).reshape(-1) > 1 - 1e-6
    a, y = a[keep], y[keep]
    if y.numel() <= a.shape[1] + 1 or float(y.var()) == 0:
        return 1.0
    a = torch.cat([a, torch.ones_like(y)[:, None]], dim=1)
    coef = torch.linalg.lstsq(a, y[:, None]).solution
    return float(1 - (y - (a @ coef)[:, 0]).var() / y.var())


def pan_start(
    ms: Tensor, pan: Tensor, ratio: int, *, ms_mask: Tensor | None = None, pan_mask: Tensor | None = None
) -> tuple[str, bool, float]:
    """``init="auto"`` for pansharpening: ``(init, residual, R²)`` by :data:`PAN_LINEAR_R2`."""
    r2 = pan_linearity(ms, pan, ratio, ms_mask=ms_mask, pan_mask=pan_mask)
    return ("gsa", False, r2) if r2 >= PAN_LINEAR_R2 else ("sfim", True, r2)


#: Conjugate-gradient steps of :func:`consistent` (on the shared cases the correction stops
#: changing after about 20).
CONSISTENT_STEPS = 20


def consistent(
    image: Tensor,
    operator: LinearOperator,
    observed: Tensor,
    mask: Tensor | None = None,
    *,
    steps: int = CONSISTENT_STEPS,
) -> Tensor:
    """An image plus the least-norm correction that makes its degradation match the observed pixels.

    Minimises ||M (A x - y)||² from x = ``image`` by conjugate gradients on the normal equations
    (CGLS), whose iterates stay in ``image`` + range(A^T): the smallest change that makes the
    image reproduce the observation (iterative back-projection, Irani and Peleg 1991). A classic
    pansharpening is not consistent with the MS it came from (GSA and SFIM add the PAN's detail
    to an interpolated MS, whose degradation is not the MS); made consistent, under the
    degradation that made the pair it is the better image (on the bench's ``pan_im4``,
    ``landsat7_rr`` and an MTF-made jelly-beans pair 1 to 3 dB), and its error on held-out
    MS pixels says which degradation that is.

    Args:
        image: (1, C, H, W) estimate.
        operator: A, the observation's degradation.
        observed: y, (1, C, h, w).
        mask: (1, 1, h, w), 1 where y holds data (the pixels to match); None: every pixel.
        steps: conjugate-gradient steps.
    """
    keep = torch.ones_like(observed[:, :1]) if mask is None else mask.to(observed).clamp(0, 1)
    target = torch.where(keep > 0, observed, torch.zeros_like(observed))

    def forward(x: Tensor) -> Tensor:
        return keep * operator(x)

    x = image.clone()
    r = target - forward(x)
    s = operator.adjoint(keep * r)
    p, gamma = s, float(s.square().sum())
    for _ in range(steps):
        if gamma <= 1e-30:
            break
        q = forward(p)
        alpha = gamma / max(float(q.square().sum()), 1e-30)
        x, r = x + alpha * p, r - alpha * q
        s = operator.adjoint(keep * r)
        nxt = float(s.square().sum())
        p, gamma = s + (nxt / gamma) * p, nxt
    return x


def tame(classic: Tensor, observed: Tensor) -> Tensor:
    """A classic image clamped, per band, to the observed image's range widened by half its span.

    SFIM divides by a low-pass of the PAN equalised to each MS band, which nears zero where a
    band is dark and the PAN bright (it gave -915 on a WorldView tile whose MS spans 0 to 0.62);
    a start that far out poisons every iterate of the residual fit. Values inside the widened
    range are left as they are: all of SFIM's on pan_im4 and the Landsat pair, all but 3e-5 to
    2e-3 of GSA's on the bench's pansharpening pairs. At factor 8 it also clips the highlights
    of a scene that its low-resolution pixels average away (0.6 % of a CAVE feathers crop's
    GSA-HS); a bound that lets them through was measured and fits worse from them
    (docs/choices.md, "The clamp on the classic start").
    """
    observed = observed.to(classic)
    lo = observed.amin(dim=(0, 2, 3), keepdim=True)
    hi = observed.amax(dim=(0, 2, 3), keepdim=True)
    margin = 0.5 * (hi - lo)
    return torch.nan_to_num(classic).clamp(lo - margin, hi + margin)
