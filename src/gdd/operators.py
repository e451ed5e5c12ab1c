"""Degradation operators A_k: spatial (block average, Gaussian, MATLAB bicubic), spectral, identity.

Every operator is a linear ``nn.Module`` with ``forward(x)`` and ``adjoint(y)``; all follow the
device and dtype of their input. Images are (B, C, H, W).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import positive_int, single_image
from .sensors import mtf_decimate

__all__ = [
    "OPERATORS",
    "BicubicDownsample",
    "BlockAverage",
    "GaussianDownsample",
    "Identity",
    "KernelDownsample",
    "LinearOperator",
    "MTFDownsample",
    "SpectralResponse",
    "imresize",
    "imresize_matrix",
    "make_spatial",
    "single_image",
]

SpatialKind = Literal["block", "gaussian", "bicubic", "mtf"]


def _check_image(x: Tensor, name: str = "x") -> None:
    if x.ndim != 4:
        raise ValueError(f"{name} must be (B, C, H, W), got shape {tuple(x.shape)}")


def _check_factor(factor: int) -> int:
    return positive_int(factor, "factor")


def _check_divides(x: Tensor, factor: int) -> None:
    h, w = x.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"image size {h} x {w} is not divisible by the factor {factor}")


class LinearOperator(nn.Module):
    """A linear map A with its adjoint A^T.

    Subclasses implement ``forward``; ``adjoint`` defaults to the vector-Jacobian product of
    ``forward`` (exact for a linear map), and subclasses override it with a closed form.
    """

    def input_shape(self, y_shape: torch.Size) -> tuple[int, ...]:
        """Shape of x for a measurement of shape ``y_shape``."""
        return tuple(y_shape)

    def adjoint(self, y: Tensor) -> Tensor:
        """Apply A^T to ``y``."""
        x0 = torch.zeros(self.input_shape(y.shape), dtype=y.dtype, device=y.device, requires_grad=True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self.forward(x0), x0, grad_outputs=y)
        return g


class Identity(LinearOperator):
    """The identity: A x = x (flash/no-flash denoising).

    Example:
        >>> Identity()(torch.ones(1, 3, 4, 4)).shape
        torch.Size([1, 3, 4, 4])
    """

    def forward(self, x: Tensor) -> Tensor:
        return x

    def adjoint(self, y: Tensor) -> Tensor:
        return y


class BlockAverage(LinearOperator):
    """Average over non-overlapping ``factor`` x ``factor`` blocks (the authors' HS operator).

    (A x)[i, j] = 1/f^2 sum_{a, b < f} x[f i + a, f j + b];  A^T y = repeat(y, f) / f^2.

    Shape: (B, C, f H, f W) -> (B, C, H, W).

    Example:
        >>> BlockAverage(2)(torch.arange(16.0).reshape(1, 1, 4, 4))
        tensor([[[[ 2.5000,  4.5000],
                  [10.5000, 12.5000]]]])
    """

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = _check_factor(factor)

    def input_shape(self, y_shape: torch.Size) -> tuple[int, ...]:
        return (*y_shape[:-2], y_shape[-2] * self.factor, y_shape[-1] * self.factor)

    def forward(self, x: Tensor) -> Tensor:
        _check_image(x)
        _check_divides(x, self.factor)
        return F.avg_pool2d(x, self.factor)

    def adjoint(self, y: Tensor) -> Tensor:
        _check_image(y, "y")
        f = self.factor
        return y.repeat_interleave(f, dim=-2).repeat_interleave(f, dim=-1) / (f * f)


def gaussian_kernel1d(factor: int, sigma: float, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """Normalised 1-D Gaussian centred on a block of ``factor`` pixels.

    The length has the parity of ``factor`` so that the centre falls on the block centre
    ((f - 1) / 2 within the block) for even factors too; it reaches 3 sigma on each side.
    """
    half = max(1, math.ceil(3 * sigma - (factor - 1) / 2))
    size = factor + 2 * half
    t = torch.arange(size, dtype=dtype) - (size - 1) / 2
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


class GaussianDownsample(LinearOperator):
    """Gaussian blur then decimation by ``factor`` (the usual HS-MS fusion protocol).

    (A x)[i] = sum_t k[t] x[f i + t - m] per axis, with reflection at the borders, so that the
    output pixel i is centred on the block [f i, f i + f - 1]. The default width is
    ``sigma = factor / (2 sqrt(2 ln 2))``, a Gaussian whose FWHM equals the factor.

    Shape: (B, C, f H, f W) -> (B, C, H, W).

    Example:
        >>> GaussianDownsample(4)(torch.ones(1, 2, 16, 16)).shape
        torch.Size([1, 2, 4, 4])
    """

    kernel1d: Tensor

    def __init__(self, factor: int, *, sigma: float | None = None) -> None:
        super().__init__()
        self.factor = _check_factor(factor)
        self.sigma = float(sigma) if sigma is not None else self.factor / (2 * math.sqrt(2 * math.log(2)))
        if not self.sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma!r}")
        k = gaussian_kernel1d(self.factor, self.sigma)
        self.register_buffer("kernel1d", k.float(), persistent=False)
        self.pad = (len(k) - self.factor) // 2

    def input_shape(self, y_shape: torch.Size) -> tuple[int, ...]:
        return (*y_shape[:-2], y_shape[-2] * self.factor, y_shape[-1] * self.factor)

    def forward(self, x: Tensor) -> Tensor:
        _check_image(x)
        _check_divides(x, self.factor)
        b, c, h, w = x.shape
        k = self.kernel1d.to(x)
        mode = "reflect" if self.pad < min(h, w) else "replicate"
        xp = F.pad(x.reshape(b * c, 1, h, w), (self.pad,) * 4, mode=mode)
        y = F.conv2d(xp, k.view(1, 1, -1, 1), stride=(self.factor, 1))
        y = F.conv2d(y, k.view(1, 1, 1, -1), stride=(1, self.factor))
        return y.reshape(b, c, h // self.factor, w // self.factor)


class KernelDownsample(LinearOperator):
    """Blur with a given 2-D kernel, then keep one pixel per ``factor`` x ``factor`` block.

    (A x)[i, j] = sum_{a, b} k[a, b] x[f i + a - p, f j + b - p] with p = (s - f) / 2 for an
    s x s kernel, borders reflected (replicated on images smaller than the pad). A kernel
    symmetric about its centre is thus centred on the block [f i, f i + f - 1], as
    :class:`GaussianDownsample`; the block average is ``k = ones(f, f) / f^2``. An off-centre
    kernel models a registration offset between the two images (:mod:`gdd.estimate` finds one).
    The size s must have the parity of f and be at least f. The adjoint is autograd's (the map
    is linear).

    Shape: kernel (s, s); (B, C, f H, f W) -> (B, C, H, W).

    Example:
        >>> KernelDownsample(torch.full((4, 4), 1 / 16), 2)(torch.ones(1, 3, 8, 6)).shape
        torch.Size([1, 3, 4, 3])
    """

    kernel: Tensor

    def __init__(self, kernel: Tensor, factor: int) -> None:
        super().__init__()
        self.factor = _check_factor(factor)
        k = torch.as_tensor(kernel).detach()
        if k.ndim != 2 or k.shape[0] != k.shape[1]:
            raise ValueError(f"the kernel must be a square (s, s) matrix, got shape {tuple(k.shape)}")
        s = k.shape[0]
        if s < self.factor or (s - self.factor) % 2:
            raise ValueError(f"the kernel size must be at least the factor {self.factor} and have its parity, got {s}")
        if not torch.isfinite(k).all():
            raise ValueError("the kernel contains NaN or Inf values")
        self.register_buffer("kernel", k.clone().float())
        self.pad = (s - self.factor) // 2

    def input_shape(self, y_shape: torch.Size) -> tuple[int, ...]:
        return (*y_shape[:-2], y_shape[-2] * self.factor, y_shape[-1] * self.factor)

    def forward(self, x: Tensor) -> Tensor:
        _check_image(x)
        _check_divides(x, self.factor)
        b, c, h, w = x.shape
        xp = x.reshape(b * c, 1, h, w)
        if self.pad:
            mode = "reflect" if self.pad < min(h, w) else "replicate"
            xp = F.pad(xp, (self.pad,) * 4, mode=mode)
        y = F.conv2d(xp, self.kernel.to(x)[None, None], stride=self.factor)
        return y.reshape(b, c, h // self.factor, w // self.factor)


def _cubic(x: np.ndarray) -> np.ndarray:
    # Keys' cubic convolution kernel with a = -0.5, as in MATLAB's imresize.
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def imresize_matrix(in_size: int, out_size: int, scale: float, *, antialiasing: bool = True) -> np.ndarray:
    """The (out_size, in_size) matrix of MATLAB's ``imresize(..., 'bicubic')`` along one axis.

    Follows MATLAB's ``contributions``: output pixel i (1-based) maps to
    u = i / scale + (1 - 1 / scale) / 2; when shrinking with antialiasing the kernel is
    stretched, h(x) = scale * cubic(scale * x), over a width 4 / scale; weights are normalised
    to sum 1; indices outside the image are mirrored (``symmetric`` padding), which makes the
    borders exact, unlike the clamping of the authors' port.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"sizes must be positive, got {in_size} -> {out_size}")
    width = 4.0
    stretch = antialiasing and scale < 1
    if stretch:
        width /= scale
    x = np.arange(1, out_size + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    dist = u[:, None] - idx
    weights = scale * _cubic(scale * dist) if stretch else _cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_size), np.arange(in_size - 1, -1, -1)])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_size)]
    m = np.zeros((out_size, in_size), dtype=np.float64)
    np.add.at(m, (np.repeat(np.arange(out_size), taps), cols.ravel()), weights.ravel())
    return m


def imresize(x: Tensor, *, scale: float, antialiasing: bool = True) -> Tensor:
    """MATLAB-compatible bicubic resize of (B, C, H, W) by ``scale`` (output ceil(H * scale)).

    Example:
        >>> imresize(torch.arange(16.0).reshape(1, 1, 4, 4), scale=0.5, antialiasing=False)
        tensor([[[[ 2.1875,  4.3125],
                  [10.6875, 12.8125]]]])
    """
    _check_image(x)
    h, w = x.shape[-2:]
    oh, ow = math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9)
    mh = torch.from_numpy(imresize_matrix(h, oh, scale, antialiasing=antialiasing)).to(x)
    mw = torch.from_numpy(imresize_matrix(w, ow, scale, antialiasing=antialiasing)).to(x)
    return torch.einsum("oh,bchw,pw->bcop", mh, x, mw)


class BicubicDownsample(LinearOperator):
    """MATLAB ``imresize(x, 1/ratio)`` with antialiasing (the authors' pansharpening operator).

    A x = M_h x M_w^T with the per-axis matrices of :func:`imresize_matrix`;
    A^T y = M_h^T y M_w. The matrices are built once per image size and cached.

    Shape: (B, C, r H, r W) -> (B, C, H, W).

    Example:
        >>> BicubicDownsample(4)(torch.ones(1, 8, 16, 20)).shape
        torch.Size([1, 8, 4, 5])
    """

    def __init__(self, ratio: int) -> None:
        super().__init__()
        self.factor = _check_factor(ratio)
        self._cache: dict[tuple[int, int, torch.dtype, torch.device], tuple[Tensor, Tensor]] = {}

    def input_shape(self, y_shape: torch.Size) -> tuple[int, ...]:
        return (*y_shape[:-2], y_shape[-2] * self.factor, y_shape[-1] * self.factor)

    def _matrices(self, h: int, w: int, like: Tensor) -> tuple[Tensor, Tensor]:
        key = (h, w, like.dtype, like.device)
        if key not in self._cache:
            f = self.factor
            mh = torch.from_numpy(imresize_matrix(h, h // f, 1 / f)).to(like)
            mw = torch.from_numpy(imresize_matrix(w, w // f, 1 / f)).to(like)
            self._cache[key] = (mh, mw)
        return self._cache[key]

    def forward(self, x: Tensor) -> Tensor:
        _check_image(x)
        _check_divides(x, self.factor)
        mh, mw = self._matrices(x.shape[-2], x.shape[-1], x)
        return torch.einsum("oh,bchw,pw->bcop", mh, x, mw)

    def adjoint(self, y: Tensor) -> Tensor:
        _check_image(y, "y")
        h, w = y.shape[-2] * self.factor, y.shape[-1] * self.factor
        mh, mw = self._matrices(h, w, y)
        return torch.einsum("oh,bcop,pw->bchw", mh, y, mw)


class SpectralResponse(LinearOperator):
    """Project a C-band image onto K bands: (A x)[b, k] = sum_c srf[k, c] x[b, c].

    With ``learnable=True`` the matrix is a parameter fitted with the network (the authors'
    pansharpening band mixture).

    Shape: x (B, C, H, W) -> (B, K, H, W); adjoint (B, K, H, W) -> (B, C, H, W).

    Example:
        >>> SpectralResponse(torch.full((1, 4), 0.25))(torch.ones(1, 4, 2, 2)).shape
        torch.Size([1, 1, 2, 2])
    """

    def __init__(self, srf: Tensor, *, learnable: bool = False) -> None:
        super().__init__()
        if srf.ndim != 2:
            raise ValueError(f"srf must be a (K, C) matrix, got shape {tuple(srf.shape)}")
        srf = srf.detach().clone().float()
        if learnable:
            self.srf = nn.Parameter(srf)
        else:
            self.register_buffer("srf", srf)

    def input_shape(self, y_shape: torch.Size) -> tuple[int, ...]:
        return (y_shape[0], self.srf.shape[1], *y_shape[2:])

    def forward(self, x: Tensor) -> Tensor:
        _check_image(x)
        if x.shape[1] != self.srf.shape[1]:
            raise ValueError(f"x has {x.shape[1]} bands but the response matrix expects {self.srf.shape[1]}")
        return torch.einsum("kc,bchw->bkhw", self.srf.to(x.dtype), x)

    def adjoint(self, y: Tensor) -> Tensor:
        _check_image(y, "y")
        return torch.einsum("kc,bkhw->bchw", self.srf.to(y.dtype), y)


class MTFDownsample(LinearOperator):
    """The sensor's MTF-matched filter (borders replicated), then every ``factor``-th pixel.

    The pansharpening toolbox's degradation (Wald protocol): per band a Gaussian whose gain at
    the low-resolution Nyquist frequency is ``gnyq`` (one value for all bands, or one per band;
    :mod:`gdd.sensors` has each sensor's), 41 x 41 taps; decimation keeps pixel factor // 2 of
    each block. The adjoint is autograd's (the map is linear).

    Shape: (B, C, H, W) -> (B, C, H / factor, W / factor).

    Example:
        >>> MTFDownsample(4)(torch.ones(1, 2, 16, 16)).shape
        torch.Size([1, 2, 4, 4])
    """

    def __init__(self, factor: int, gnyq: float | tuple[float, ...] = 0.29) -> None:
        super().__init__()
        self.factor = _check_factor(factor)
        self.gnyq = (float(gnyq),) if isinstance(gnyq, (int, float)) else tuple(float(g) for g in gnyq)

    def input_shape(self, y_shape: torch.Size) -> tuple[int, ...]:
        return (*y_shape[:-2], y_shape[-2] * self.factor, y_shape[-1] * self.factor)

    def forward(self, x: Tensor) -> Tensor:
        _check_image(x)
        _check_divides(x, self.factor)
        return mtf_decimate(x, self.factor, self.gnyq)


OPERATORS: dict[str, type[LinearOperator]] = {
    "identity": Identity,
    "block": BlockAverage,
    "gaussian": GaussianDownsample,
    "bicubic": BicubicDownsample,
    "mtf": MTFDownsample,
    "kernel": KernelDownsample,
    "srf": SpectralResponse,
}


def make_spatial(kind: SpatialKind, factor: int) -> LinearOperator:
    """Build a spatial degradation by name: ``"block"``, ``"gaussian"``, ``"bicubic"`` or ``"mtf"``.

    Example:
        >>> make_spatial("block", 4)
        BlockAverage()
    """
    if kind not in ("block", "gaussian", "bicubic", "mtf"):
        raise ValueError(f"spatial degradation must be 'block', 'gaussian', 'bicubic' or 'mtf', got {kind!r}")
    return OPERATORS[kind](factor)  # type: ignore[call-arg]
