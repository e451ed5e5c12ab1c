"""Full-reference quality indices (reduced-resolution protocol), as the standard toolboxes compute them.

All take the estimate first and the reference second, as (B, C, H, W) or (C, H, W) tensors;
they compute in float64 and return a float, the mean over the batch. Definitions follow Vivone
et al.'s pansharpening toolbox (``indexes_evaluation.m``: Q, Q2n, SAM, ERGAS, sCC) and Wang et
al. (SSIM); where the toolbox and a library differ, the docstring says which one is followed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import positive_int

__all__ = [
    "cc",
    "ergas",
    "psnr",
    "q2n",
    "q_index",
    "rmse",
    "rmse_map",
    "sam",
    "sam_map",
    "scc",
    "ssim",
]


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


def psnr(x: Tensor, ref: Tensor, *, data_range: float = 1.0, per_band: bool = False) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(range^2 / MSE).

    The data range is explicit (1.0 for images in [0, 1]); it is never guessed from the data.
    ``per_band=False`` takes the MSE over all bands at once (global PSNR); ``per_band=True``
    averages the PSNR of each band, as hyperspectral papers usually report it.

    Example:
        >>> round(psnr(torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), 0.6)), 4)
        20.0
    """
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    x, ref = _pair(x, ref)
    if per_band:
        mse = (x - ref).square().mean(dim=(2, 3))
        return float((10 * torch.log10(data_range**2 / mse)).mean())
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
    zeros are left out (not counted as NaN or as zero); NaN when no pixel is left.

    Example:
        >>> x = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
        >>> round(sam(x, torch.tensor([1.0, 1.0]).view(1, 2, 1, 1)), 6)
        45.0
    """
    x, ref = _pair(x, ref)
    dot = (x * ref).sum(dim=1)
    # sqrt(|x|^2 |r|^2) as the toolbox's SAM.m: equal spectra give exactly 0.
    norms = (x.square().sum(dim=1) * ref.square().sum(dim=1)).sqrt()
    angles = []
    for d, n in zip(dot, norms):
        valid = n > 0
        cos = (d[valid] / n[valid]).clamp(-1, 1)
        angles.append(float(torch.rad2deg(torch.arccos(cos)).mean()) if cos.numel() else math.nan)
    return sum(angles) / len(angles)


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


def cc(x: Tensor, ref: Tensor) -> float:
    """Correlation coefficient: Pearson's r between estimate and reference per band, averaged.

    Example:
        >>> ref = torch.arange(8.0).view(2, 2, 2)
        >>> round(cc(2 * ref + 1, ref), 6)
        1.0
    """
    x, ref = _pair(x, ref)
    xc = x - x.mean(dim=(2, 3), keepdim=True)
    rc = ref - ref.mean(dim=(2, 3), keepdim=True)
    r = (xc * rc).sum(dim=(2, 3)) / (xc.square().sum(dim=(2, 3)) * rc.square().sum(dim=(2, 3))).sqrt()
    return float(r.mean())


def _gaussian_window(size: int, sigma: float, *, device: torch.device) -> Tensor:
    t = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(x: Tensor, ref: Tensor, *, data_range: float = 1.0) -> float:
    """Structural similarity (Wang et al. 2004), averaged over pixels and bands.

    The original variant: an 11 x 11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
    population (biased) moments, the map taken where the window fits inside the image ('valid';
    scikit-image's ``gaussian_weights=True, use_sample_covariance=False`` gives the same), then
    averaged per band and over bands.

    Example:
        >>> ref = torch.rand(1, 2, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> ssim(ref, ref)
        1.0
    """
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    x, ref = _pair(x, ref)
    h, w = x.shape[-2:]
    if h < 11 or w < 11:
        raise ValueError(f"SSIM needs images of at least 11 x 11 pixels, got {h} x {w}")
    return float(ssim_map(x, ref, data_range=data_range).mean(dim=(2, 3)).mean(dim=1).mean())


def ssim_map(x: Tensor, ref: Tensor, *, data_range: float = 1.0) -> Tensor:
    """The SSIM of every 11 x 11 window that fits in (B, C, H, W) images: (B, C, H - 10, W - 10)."""
    c = x.shape[1]
    win = _gaussian_window(11, 1.5, device=x.device).expand(c, 1, 11, 11)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, win, groups=c)

    mx, mr = blur(x), blur(ref)
    vx = blur(x * x) - mx * mx
    vr = blur(ref * ref) - mr * mr
    cov = blur(x * ref) - mx * mr
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mx * mr + c1) * (2 * cov + c2)) / ((mx * mx + mr * mr + c1) * (vx + vr + c2))


def q_index(x: Tensor, ref: Tensor, *, block_size: int = 32) -> float:
    """Wang-Bovik universal image quality index Q, averaged over bands (the toolbox's ``Q.m``).

    Per band, Q = 4 cov(x, r) mean(x) mean(r) / ((var x + var r)(mean(x)^2 + mean(r)^2)) on every
    ``block_size`` x ``block_size`` window that fits in the image (a sliding window with step 1,
    as Wang's ``img_qi.m`` that the toolbox calls); windows where the formula is 0/0 follow
    ``img_qi.m`` (1 when both are flat and equal, 2 mean(x) mean(r) / (mean(x)^2 + mean(r)^2)
    when both are flat). The mean over windows, then over bands.

    Example:
        >>> ref = torch.rand(1, 2, 40, 40, generator=torch.Generator().manual_seed(0))
        >>> q_index(ref, ref)
        1.0
    """
    x, ref = _pair(x, ref)
    _check_block(x, block_size)
    return float(q_map(x, ref, block_size=block_size).mean(dim=(2, 3)).mean(dim=1).mean())


def q_map(x: Tensor, ref: Tensor, *, block_size: int = 32) -> Tensor:
    """Q of every ``block_size`` window that fits in (B, C, H, W) images: (B, C, H - S + 1, W - S + 1)."""
    n = block_size**2

    def sums(t: Tensor) -> Tensor:
        # Plain sums (no division): exactly flat windows stay exactly flat, as in filter2.
        return F.avg_pool2d(t, block_size, stride=1, divisor_override=1)

    s1, s2 = sums(x), sums(ref)
    s11, s22, s12 = sums(x * x), sums(ref * ref), sums(x * ref)
    prod = s1 * s2
    sq = s1 * s1 + s2 * s2
    numerator = 4 * (n * s12 - prod) * prod
    denominator1 = n * (s11 + s22) - sq
    denominator = denominator1 * sq
    qmap = torch.ones_like(denominator)
    flat = (denominator1 == 0) & (sq != 0)
    qmap = torch.where(flat, 2 * prod / torch.where(flat, sq, 1), qmap)
    ok = denominator != 0
    return torch.where(ok, numerator / torch.where(ok, denominator, 1), qmap)


def _check_block(x: Tensor, block_size: int) -> None:
    if isinstance(block_size, bool) or int(block_size) != block_size or block_size < 2:
        raise ValueError(f"block_size must be an integer >= 2, got {block_size!r}")
    h, w = x.shape[-2:]
    if h < block_size or w < block_size:
        raise ValueError(f"the image ({h} x {w}) is smaller than the {block_size} x {block_size} block")


def _onion(a: Tensor, b: Tensor) -> Tensor:
    """Cayley-Dickson (hypercomplex) product over the last dimension (a power of two)."""
    n = a.shape[-1]
    if n == 1:
        return a * b
    half = n // 2

    def conj_tail(t: Tensor) -> Tensor:
        return torch.cat([t[..., :1], -t[..., 1:]], dim=-1)

    a1, a2 = a[..., :half], conj_tail(a[..., half:])
    b1, b2 = b[..., :half], conj_tail(b[..., half:])
    if n == 2:
        return torch.cat([a1 * b1 - b2 * a2, a1 * b2 + b1 * a2], dim=-1)
    left = _onion(a1, b1) - _onion(b2, conj_tail(a2))
    right = _onion(conj_tail(a1), b2) + _onion(b1, a2)
    return torch.cat([left, right], dim=-1)


def _mirror_pad(t: Tensor, rows: int, cols: int) -> Tensor:
    """Append mirrored copies of the last ``rows``/``cols`` (edge included), as ``q2n.m`` does."""
    if cols:
        t = torch.cat([t, t[..., -cols:].flip(-1)], dim=-1)
    if rows:
        t = torch.cat([t, t[..., -rows:, :].flip(-2)], dim=-2)
    return t


def _q2n_blocks(ref: Tensor, x: Tensor) -> Tensor:
    """Q2n of each block: ref and x are (..., M, N) with M pixels and N (a power of two) bands."""
    m = ref.shape[-2]
    k = m / (m - 1)
    mean = ref.mean(dim=-2, keepdim=True)
    std = ref.std(dim=-2, keepdim=True)
    std = torch.where(std == 0, torch.finfo(torch.float64).eps, std)
    r = (ref - mean) / std + 1
    # The estimate is normalised with the reference's statistics; a zero-mean reference band
    # only shifts it (the toolbox's special case), then the estimate is conjugated.
    e = torch.where(mean == 0, x + 1, (x - mean) / std + 1)
    e = torch.cat([e[..., :1], -e[..., 1:]], dim=-1)
    m1, m2 = r.mean(dim=-2), e.mean(dim=-2)
    mod1, mod2 = m1.square().sum(-1), m2.square().sum(-1)
    int1 = k * r.square().sum(-1).mean(-1)
    int2 = k * e.square().sum(-1).mean(-1)
    term3 = int1 + int2 - k * (mod1 + mod2)
    mean_bias = 2 * (mod1 * mod2).sqrt() / (mod1 + mod2)
    qv = k * _onion(r, e).mean(dim=-2)
    qm = _onion(m1, m2)
    safe = torch.where(term3 == 0, 1, term3)
    q = (qv - k * qm) * (mean_bias * 2 / safe)[..., None]
    flat = torch.zeros_like(q)
    flat[..., -1] = mean_bias
    return torch.where((term3 == 0)[..., None], flat, q)


def q2n(x: Tensor, ref: Tensor, *, block_size: int = 32, shift: int | None = None) -> float:
    """Q2n (Q4, Q8, ...): the hypercomplex generalisation of Q (Garzelli and Nencini 2009).

    The bands of each pixel form a hypercomplex number (zero bands appended up to a power of
    two); Q2n per block is the modulus of the hypercomplex Q between reference and estimate
    blocks of ``block_size`` x ``block_size`` pixels taken every ``shift`` pixels (default:
    ``block_size``, non-overlapping); the image is first extended by mirroring so that the blocks
    cover it. Follows the toolbox's ``q2n.m`` and ``onions_quality.m`` step by step, except that
    the toolbox first rounds both images to ``uint16`` (it works on integer digital numbers):
    here floats are used as they are.

    Example:
        >>> ref = torch.rand(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> round(q2n(ref, ref), 12)
        1.0
    """
    x, ref = _pair(x, ref)
    if isinstance(block_size, bool) or int(block_size) != block_size or block_size < 2:
        raise ValueError(f"block_size must be an integer >= 2, got {block_size!r}")
    shift = block_size if shift is None else shift
    positive_int(shift, "shift")
    h, w = x.shape[-2:]
    steps_y, steps_x = math.ceil(h / shift), math.ceil(w / shift)
    pad_y = max((steps_y - 1) * shift + block_size - h, 0)
    pad_x = max((steps_x - 1) * shift + block_size - w, 0)
    if pad_y > h or pad_x > w:
        raise ValueError(f"the image ({h} x {w}) is too small for {block_size} x {block_size} blocks")
    x, ref = _mirror_pad(x, pad_y, pad_x), _mirror_pad(ref, pad_y, pad_x)
    return float(q2n_values(x, ref, block_size=block_size, shift=shift).mean(dim=(1, 2)).mean())


def q2n_values(x: Tensor, ref: Tensor, *, block_size: int, shift: int) -> Tensor:
    """Q2n of each block of (B, C, H, W) images the blocks cover: (B, blocks down, blocks across)."""
    b, c = x.shape[:2]
    steps_y, steps_x = (x.shape[2] - block_size) // shift + 1, (x.shape[3] - block_size) // shift + 1
    n = 1 << (c - 1).bit_length()
    if n > c:
        zeros = x.new_zeros(b, n - c, *x.shape[-2:])
        x, ref = torch.cat([x, zeros], dim=1), torch.cat([ref, zeros], dim=1)

    def blocks(t: Tensor) -> Tensor:
        t = t.unfold(2, block_size, shift).unfold(3, block_size, shift)  # B, N, by, bx, S, S
        return t.permute(0, 2, 3, 4, 5, 1).reshape(b, steps_y, steps_x, block_size * block_size, n)

    return _q2n_blocks(blocks(ref), blocks(x)).square().sum(-1).sqrt()


_SOBEL = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))


def sobel_magnitude(t: Tensor) -> Tensor:
    """Each band's Sobel gradient magnitude of (B, C, H, W) images, zero outside (same size)."""
    c = t.shape[1]
    ky = torch.tensor(_SOBEL, dtype=t.dtype, device=t.device)
    weight = torch.stack([ky, ky.T]).unsqueeze(1).repeat(c, 1, 1, 1)
    g = F.conv2d(t, weight, padding=1, groups=c)
    return (g[:, 0::2].square() + g[:, 1::2].square()).sqrt()


def scc(x: Tensor, ref: Tensor) -> float:
    """Spatial correlation coefficient as the toolbox's ``SCC.m`` defines it.

    The one-pixel border is cut, each band's Sobel gradient magnitude is taken (MATLAB's
    ``imfilter`` with ``fspecial('sobel')`` and its transpose, zero padding), and
    sCC = <G_x, G_r> / (|G_x| |G_r|) over all pixels and bands at once (not centred).

    Example:
        >>> ref = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> round(scc(2 * ref, ref), 12)
        1.0
    """
    x, ref = _pair(x, ref)
    if min(x.shape[-2:]) < 3:
        raise ValueError(f"SCC needs images of at least 3 x 3 pixels, got {tuple(x.shape[-2:])}")
    gx, gr = sobel_magnitude(x[..., 1:-1, 1:-1]), sobel_magnitude(ref[..., 1:-1, 1:-1])
    num = (gx * gr).sum(dim=(1, 2, 3))
    den = gx.square().sum(dim=(1, 2, 3)).sqrt() * gr.square().sum(dim=(1, 2, 3)).sqrt()
    return float((num / den).mean())
