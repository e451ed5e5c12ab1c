"""Full-reference quality indices per image: PSNR, RMSE, SAM, ERGAS.

All take (B, C, H, W) or (C, H, W) tensors (estimate first, reference second), compute in
float64 and return a float (the mean over the batch).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["ergas", "psnr", "rmse", "rmse_map", "sam", "sam_map", "summary"]


def _pair(x: Tensor, ref: Tensor) -> tuple[Tensor, Tensor]:
    if x.shape != ref.shape:
        raise ValueError(f"estimate {tuple(x.shape)} and reference {tuple(ref.shape)} differ in shape")
    if x.ndim == 3:
        x, ref = x[None], ref[None]
    if x.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    return x.double(), ref.to(x.device).double()


def rmse(x: Tensor, ref: Tensor) -> float:
    """Root mean squared error over all pixels and bands.

    Example:
        >>> rmse(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
        1.0
    """
    x, ref = _pair(x, ref)
    return float((x - ref).square().mean(dim=(1, 2, 3)).sqrt().mean())


def psnr(x: Tensor, ref: Tensor, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio over all bands: 10 log10(range^2 / MSE), in dB.

    The data range is explicit (1.0 for images in [0, 1]); it is never guessed from the data.

    Example:
        >>> round(psnr(torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), 0.6)), 4)
        20.0
    """
    x, ref = _pair(x, ref)
    mse = (x - ref).square().mean(dim=(1, 2, 3))
    return float((10 * torch.log10(data_range**2 / mse)).mean())


def sam_map(x: Tensor, ref: Tensor) -> Tensor:
    """Per-pixel spectral angle in degrees, (H, W) for the first image; NaN where a spectrum is zero.

    Example:
        >>> sam_map(torch.tensor([1.0, 0.0]).view(2, 1, 1), torch.tensor([0.0, 1.0]).view(2, 1, 1))
        tensor([[90.]], dtype=torch.float64)
    """
    x, ref = _pair(x, ref)
    dot = (x[0] * ref[0]).sum(dim=0)
    norms = x[0].norm(dim=0) * ref[0].norm(dim=0)
    cos = (dot / norms).clamp(-1, 1)
    return torch.where(norms > 0, torch.rad2deg(torch.arccos(cos)), torch.full_like(cos, math.nan))


def rmse_map(x: Tensor, ref: Tensor) -> Tensor:
    """Per-pixel root mean squared error over the bands, (H, W) for the first image.

    Example:
        >>> rmse_map(torch.zeros(2, 1, 1), torch.ones(2, 1, 1))
        tensor([[1.]], dtype=torch.float64)
    """
    x, ref = _pair(x, ref)
    return (x[0] - ref[0]).square().mean(dim=0).sqrt()


def sam(x: Tensor, ref: Tensor) -> float:
    """Spectral angle mapper: the mean angle in degrees between estimated and reference spectra.

    SAM = mean_p arccos(<x_p, r_p> / (|x_p| |r_p|)); pixels where either spectrum is all
    zeros are left out (not counted as NaN or as zero).

    Example:
        >>> x = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
        >>> round(sam(x, torch.tensor([1.0, 1.0]).view(1, 2, 1, 1)), 6)
        45.0
    """
    x, ref = _pair(x, ref)
    dot = (x * ref).sum(dim=1)
    norms = x.norm(dim=1) * ref.norm(dim=1)
    valid = norms > 0
    cos = (dot[valid] / norms[valid]).clamp(-1, 1)
    if cos.numel() == 0:
        return 0.0
    return float(torch.rad2deg(torch.arccos(cos)).mean())


def ergas(x: Tensor, ref: Tensor, *, ratio: float) -> float:
    """Erreur relative globale adimensionnelle de synthese.

    ERGAS = 100 / ratio * sqrt(mean_k(MSE_k / mu_k^2)), with mu_k the reference mean of band k
    and ``ratio`` the resolution ratio (high / low resolution, e.g. 4).

    Example:
        >>> round(ergas(torch.full((1, 1, 2, 2), 0.5), torch.ones(1, 1, 2, 2), ratio=4), 6)
        12.5
    """
    if not ratio > 0:
        raise ValueError(f"ratio must be positive, got {ratio}")
    x, ref = _pair(x, ref)
    mse = (x - ref).square().mean(dim=(2, 3))
    mu2 = ref.mean(dim=(2, 3)).square()
    return float((100 / ratio * torch.sqrt((mse / mu2).mean(dim=1))).mean())


def summary(x: Tensor, ref: Tensor, *, ratio: float, data_range: float = 1.0) -> dict[str, float]:
    """PSNR, SAM, ERGAS and RMSE in one dict."""
    out = {
        "psnr": psnr(x, ref, data_range=data_range),
        "sam": sam(x, ref),
        "ergas": ergas(x, ref, ratio=ratio),
        "rmse": rmse(x, ref),
    }
    return {k: (v if math.isfinite(v) else float("inf")) for k, v in out.items()}
