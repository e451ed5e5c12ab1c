"""No-reference quality indices (full-resolution protocol): D_lambda, D_s, QNR, Khan's D_lambda, HQNR.

Arguments: ``fused`` (B, C, H, W) at the PAN's scale; ``ms`` the observed multispectral image,
either at its own resolution (H / ratio, W / ratio; the QNR paper's protocol, Alparone et al.
2008) or already resampled to the PAN's grid (H, W; the toolbox 1.0 protocol); ``pan``
(B, 1, H, W). A comparison made at the MS's resolution uses blocks of ``block_size / ratio``
pixels, so that every block covers the same ground as a ``block_size`` block of the fused image.
Blocks do not overlap; when the size is not a multiple of the block, the last blocks are
smaller (MATLAB's ``blockproc``), where the toolbox would refuse the image.

The Q of a block pair is Wang and Bovik's, 4 cov(a, b) mean(a) mean(b) / ((var a + var b)
(mean(a)^2 + mean(b)^2)); a flat block makes it 0/0 and the index NaN, as in the toolbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import positive_int
from ..operators import imresize
from ..sensors import mtf_decimate, mtf_filter, sensor_gnyq
from .reference import q2n

__all__ = ["PanDegradation", "d_lambda", "d_lambda_khan", "d_s", "hqnr", "qnr"]

PanDegradation = Literal["mtf", "bicubic"]


def _image(t: Tensor, name: str) -> Tensor:
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4:
        raise ValueError(f"{name} must be (B, C, H, W) or (C, H, W), got shape {tuple(t.shape)}")
    return t.double()


def _inputs(fused: Tensor, ms: Tensor, ratio: int, block_size: int) -> tuple[Tensor, Tensor, bool, int]:
    """Check shapes; returns fused, ms, whether ms is at low resolution, and the block size at ms scale."""
    positive_int(ratio, "ratio")
    if isinstance(block_size, bool) or int(block_size) != block_size or block_size < 2:
        raise ValueError(f"block_size must be an integer >= 2, got {block_size!r}")
    fused, ms = _image(fused, "fused"), _image(ms, "ms").to(fused.device)
    b, c, h, w = fused.shape
    if ms.shape[:2] != (b, c):
        raise ValueError(f"ms has {ms.shape[1]} bands, the fused image {c}")
    if ms.shape[-2:] == (h, w):
        return fused, ms, False, block_size
    if h % ratio or w % ratio or ms.shape[-2:] != (h // ratio, w // ratio):
        raise ValueError(
            f"ms is {tuple(ms.shape[-2:])}: expected the fused size {(h, w)} or that size divided by the ratio {ratio}"
        )
    if block_size % ratio:
        raise ValueError(f"block_size {block_size} must be a multiple of the ratio {ratio}")
    return fused, ms, True, block_size // ratio


def _pan(pan: Tensor, fused: Tensor) -> Tensor:
    pan = _image(pan, "pan").to(fused.device)
    if pan.shape[1] != 1 or pan.shape[-2:] != fused.shape[-2:] or pan.shape[0] != fused.shape[0]:
        raise ValueError(f"pan must be one band of {tuple(fused.shape[-2:])}, got shape {tuple(pan.shape)}")
    return pan


def _block_q(t: Tensor, block: int) -> Tensor:
    """Mean over non-overlapping blocks of Q between every pair of bands: (B, C, C)."""
    h, w = t.shape[-2:]
    ph, pw = -h % block, -w % block
    mask = F.pad(t.new_ones(1, 1, h, w), (0, pw, 0, ph))
    t = F.pad(t, (0, pw, 0, ph))
    ny, nx = (h + ph) // block, (w + pw) // block

    def blocks(u: Tensor) -> Tensor:
        u = u.reshape(u.shape[0], u.shape[1], ny, block, nx, block).permute(0, 2, 4, 3, 5, 1)
        return u.reshape(u.shape[0], ny * nx, block * block, u.shape[-1])

    tb, mb = blocks(t), blocks(mask)
    n = mb.sum(dim=2)  # 1, K, 1
    mean = (tb * mb).sum(dim=2) / n  # B, K, C
    centred = (tb - mean[:, :, None]) * mb
    cov = torch.einsum("bkmc,bkmd->bkcd", centred, centred) / (n - 1)[..., None]
    var = cov.diagonal(dim1=-2, dim2=-1)
    mi, mj = mean[..., :, None], mean[..., None, :]
    q = 4 * cov * mi * mj / ((var[..., :, None] + var[..., None, :]) * (mi * mi + mj * mj))
    return q.mean(dim=1)


def _degrade_pan(pan: Tensor, ratio: int, *, low: bool, sensor: str, how: PanDegradation) -> Tensor:
    if how == "mtf":
        gain = sensor_gnyq(sensor)
        return mtf_decimate(pan, ratio, gain) if low else mtf_filter(pan, ratio, gain)
    if how == "bicubic":
        if not low:
            raise ValueError("the bicubic PAN degradation needs the MS at low resolution; or pass pan_lr")
        return imresize(pan, scale=1 / ratio)
    raise ValueError(f"pan_degradation must be 'mtf' or 'bicubic', got {how!r}")


def _power_mean(d: Tensor, p: float) -> float:
    if not p > 0:
        raise ValueError(f"the exponent must be positive, got {p}")
    return float((d.abs() ** p).mean(dim=-1).pow(1 / p).mean())


def d_lambda(fused: Tensor, ms: Tensor, *, ratio: int, block_size: int = 32, p: float = 1.0) -> float:
    """Spectral distortion D_lambda of QNR: how much the inter-band Q's changed.

    D_lambda = (mean_{i<j} |Q(F_i, F_j) - Q(M_i, M_j)|^p)^(1/p), with Q averaged over blocks.

    Example:
        >>> ms = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> round(d_lambda(ms.repeat_interleave(4, -1).repeat_interleave(4, -2), ms, ratio=4), 12)
        0.0
    """
    fused, ms, _, ms_block = _inputs(fused, ms, ratio, block_size)
    c = fused.shape[1]
    if c < 2:
        raise ValueError("D_lambda needs at least two bands")
    i, j = torch.triu_indices(c, c, offset=1)
    qf = _block_q(fused, block_size)[:, i, j]
    qm = _block_q(ms, ms_block)[:, i, j]
    return _power_mean(qf - qm, p)


def d_s(
    fused: Tensor,
    ms: Tensor,
    pan: Tensor,
    *,
    ratio: int,
    pan_lr: Tensor | None = None,
    sensor: str = "none",
    pan_degradation: PanDegradation = "mtf",
    block_size: int = 32,
    q: float = 1.0,
) -> float:
    """Spatial distortion D_s of QNR: how much each band's Q with the PAN changed across scales.

    D_s = (mean_i |Q(F_i, P) - Q(M_i, P_low)|^q)^(1/q). ``P_low`` is ``pan_lr`` when given (the
    PAN at the MS's size). Otherwise ``pan_degradation="mtf"`` filters the PAN by the
    ``sensor``'s PAN MTF (:mod:`gdd.sensors`), decimated when ``ms`` is at low resolution (the
    sensor-aware D_s of Khan et al. and later toolbox versions); ``"bicubic"`` shrinks it with
    MATLAB's antialiased bicubic ``imresize`` (the QNR paper's choice in the toolbox's ``D_s.m``;
    low-resolution ``ms`` only). The two give different figures: say which one a table used.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> pan, ms = torch.rand(1, 1, 32, 32, generator=g), torch.rand(1, 2, 8, 8, generator=g)
        >>> d_s(pan.repeat(1, 2, 1, 1), ms, pan, ratio=4) >= 0
        True
    """
    fused, ms, low, ms_block = _inputs(fused, ms, ratio, block_size)
    pan = _pan(pan, fused)
    if pan_lr is None:
        pan_lr = _degrade_pan(pan, ratio, low=low, sensor=sensor, how=pan_degradation)
    else:
        pan_lr = _image(pan_lr, "pan_lr").to(fused.device)
        if pan_lr.shape != (ms.shape[0], 1, *ms.shape[-2:]):
            raise ValueError(f"pan_lr must be one band of the MS's size {tuple(ms.shape[-2:])}")
    c = fused.shape[1]
    q_high = _block_q(torch.cat([fused, pan], dim=1), block_size)[:, :c, c]
    q_low = _block_q(torch.cat([ms, pan_lr], dim=1), ms_block)[:, :c, c]
    return _power_mean(q_high - q_low, q)


def qnr(
    fused: Tensor,
    ms: Tensor,
    pan: Tensor,
    *,
    ratio: int,
    pan_lr: Tensor | None = None,
    sensor: str = "none",
    pan_degradation: PanDegradation = "mtf",
    block_size: int = 32,
    alpha: float = 1.0,
    beta: float = 1.0,
    p: float = 1.0,
    q: float = 1.0,
) -> dict[str, float]:
    """Quality with no reference: QNR = (1 - D_lambda)^alpha (1 - D_s)^beta, with both distortions.

    Returns ``{"qnr", "d_lambda", "d_s"}``.
    """
    dl = d_lambda(fused, ms, ratio=ratio, block_size=block_size, p=p)
    ds = d_s(
        fused,
        ms,
        pan,
        ratio=ratio,
        pan_lr=pan_lr,
        sensor=sensor,
        pan_degradation=pan_degradation,
        block_size=block_size,
        q=q,
    )
    return {"qnr": (1 - dl) ** alpha * (1 - ds) ** beta, "d_lambda": dl, "d_s": ds}


def d_lambda_khan(
    fused: Tensor,
    ms: Tensor,
    *,
    ratio: int,
    sensor: str = "none",
    gnyq: Sequence[float] | None = None,
    block_size: int = 32,
) -> float:
    """Khan's spectral distortion: 1 - Q2n(MS, fused degraded by the MS sensor's MTF).

    The fused image is filtered by each band's MTF (gains from ``sensor``, or ``gnyq``), and
    compared with ``ms`` at full size as the toolbox's ``D_lambda_K.m`` does (Khan et al. 2009),
    or, when ``ms`` is at low resolution, decimated first and compared on blocks of
    block_size / ratio (the decimated variant of later toolbox versions).

    Example:
        >>> ms = torch.rand(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> 0 <= d_lambda_khan(ms, ms, ratio=4) <= 1
        True
    """
    fused, ms, low, ms_block = _inputs(fused, ms, ratio, block_size)
    gains = list(gnyq) if gnyq is not None else sensor_gnyq(sensor, fused.shape[1])
    degraded = mtf_decimate(fused, ratio, gains) if low else mtf_filter(fused, ratio, gains)
    return 1 - q2n(degraded, ms, block_size=ms_block)


def hqnr(
    fused: Tensor,
    ms: Tensor,
    pan: Tensor,
    *,
    ratio: int,
    pan_lr: Tensor | None = None,
    sensor: str = "none",
    pan_degradation: PanDegradation = "mtf",
    block_size: int = 32,
    alpha: float = 1.0,
    beta: float = 1.0,
) -> dict[str, float]:
    """Hybrid QNR: (1 - Khan's D_lambda)^alpha (1 - D_s)^beta (Aiazzi et al. 2014).

    Returns ``{"hqnr", "d_lambda_khan", "d_s"}``.
    """
    dk = d_lambda_khan(fused, ms, ratio=ratio, sensor=sensor, block_size=block_size)
    ds = d_s(
        fused,
        ms,
        pan,
        ratio=ratio,
        pan_lr=pan_lr,
        sensor=sensor,
        pan_degradation=pan_degradation,
        block_size=block_size,
    )
    return {"hqnr": (1 - dk) ** alpha * (1 - ds) ** beta, "d_lambda_khan": dk, "d_s": ds}
