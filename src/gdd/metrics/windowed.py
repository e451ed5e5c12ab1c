"""The full-reference indices of images larger than memory, accumulated window by window.

:func:`reduced_resolution_windows` gives the figures of :func:`gdd.metrics.reduced_resolution`
on a whole image (up to the order in which floating-point sums are taken) while holding only a
window of it at a time: every index is a sum over pixels, sliding windows or blocks, so each
window contributes the terms whose pixel, window or block starts inside it, read with the
margin those terms reach beyond it (10 pixels for SSIM, a block for Q and Q2n, 1 for SCC's
Sobel filter). Correlations combine per-window centred moments (Chan et al.'s pairwise update),
not raw sums, so that they keep their precision on large images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .reference import q2n_values, q_map, sobel_magnitude, ssim_map

__all__ = ["reduced_resolution_windows"]

#: ``read(rows, cols)`` -> (estimate, reference) of that part of the image, each (h, w, C).
Reader = Callable[[slice, slice], tuple[np.ndarray, np.ndarray]]


@dataclass
class _Moments:
    """Count, means and centred (co)moments per band, merged window by window."""

    n: float = 0.0
    mean: Tensor | None = None  # (2, C): estimate, reference
    m2: Tensor | None = None  # (3, C): xx, rr, xr

    def add(self, x: Tensor, r: Tensor) -> None:  # (C, P) each
        n = x.shape[1]
        if not n:
            return
        mean = torch.stack([x.mean(1), r.mean(1)])
        xc, rc = x - mean[0, :, None], r - mean[1, :, None]
        m2 = torch.stack([(xc * xc).sum(1), (rc * rc).sum(1), (xc * rc).sum(1)])
        if self.mean is None or self.m2 is None:
            self.n, self.mean, self.m2 = float(n), mean, m2
            return
        total = self.n + n
        d = mean - self.mean
        f = self.n * n / total
        self.m2 = self.m2 + m2 + f * torch.stack([d[0] * d[0], d[1] * d[1], d[0] * d[1]])
        self.mean = self.mean + d * (n / total)
        self.n = total


@dataclass
class _Sums:
    pixels: int = 0
    sse: Tensor | None = None  # per band
    ref_sum: Tensor | None = None  # per band
    angles: float = 0.0
    angle_count: int = 0
    moments: _Moments = field(default_factory=_Moments)
    ssim: list[float] = field(default_factory=lambda: [0.0, 0.0])  # sum of band means' numerators, positions
    q: list[float] = field(default_factory=lambda: [0.0, 0.0])
    q2n: list[float] = field(default_factory=lambda: [0.0, 0.0])
    scc: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # <gx, gr>, |gx|^2, |gr|^2

    def add_pixels(self, x: Tensor, r: Tensor) -> None:  # (C, h, w)
        c = x.shape[0]
        diff2 = (x - r).square().reshape(c, -1).sum(1)
        rs = r.reshape(c, -1).sum(1)
        self.sse = diff2 if self.sse is None else self.sse + diff2
        self.ref_sum = rs if self.ref_sum is None else self.ref_sum + rs
        self.pixels += x.shape[1] * x.shape[2]
        dot = (x * r).sum(0)
        norms = (x.square().sum(0) * r.square().sum(0)).sqrt()
        valid = norms > 0
        cos = (dot[valid] / norms[valid]).clamp(-1, 1)
        self.angles += float(torch.rad2deg(torch.arccos(cos)).sum())
        self.angle_count += int(cos.numel())
        self.moments.add(x.reshape(c, -1), r.reshape(c, -1))


def _windows(size: int, step: int) -> list[tuple[int, int]]:
    return [(a, min(a + step, size)) for a in range(0, size, step)]


def reduced_resolution_windows(
    read: Reader,
    shape: tuple[int, int, int],
    *,
    ratio: float,
    data_range: float = 1.0,
    clip: float | None = None,
    block_size: int = 32,
    window: int = 1024,
) -> dict[str, float | None]:
    """The indices of :func:`gdd.metrics.reduced_resolution` (without ``dim_cut``) window by window.

    Args:
        read: gives the estimate and the reference of a part of the image (see :data:`Reader`).
        shape: the image's (H, W, C).
        window: the side of the windows, rounded up to a multiple of ``block_size``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> ref = rng.random((40, 40, 3)); x = ref + 0.01
        >>> out = reduced_resolution_windows(lambda r, c: (x[r, c], ref[r, c]), ref.shape, ratio=4, window=16)
        >>> round(out["psnr"], 6), round(out["cc"], 6)
        (40.0, 1.0)
    """
    h, w, c = shape
    bs = block_size
    step = -(-max(window, bs) // bs) * bs
    # Q2n's blocks cover the image extended by mirroring (see gdd.metrics.q2n).
    pad_y, pad_x = -(-h // bs) * bs - h, -(-w // bs) * bs - w
    has_q2n = pad_y <= h and pad_x <= w and min(h, w) >= 2
    has_block, has_ssim, has_scc = min(h, w) >= bs, min(h, w) >= 11, min(h, w) >= 3
    reach = max(bs, 11)
    s = _Sums()
    for r0, r1 in _windows(h, step):
        for c0, c1 in _windows(w, step):
            e0, f0 = max(r0 - bs, 0), max(c0 - bs, 0)  # Q2n's mirrored rows lie up to a block above
            e1, f1 = min(r1 + reach, h), min(c1 + reach, w)
            xa, ra = read(slice(e0, e1), slice(f0, f1))
            x = torch.from_numpy(np.ascontiguousarray(xa, dtype=np.float64)).permute(2, 0, 1)
            r = torch.from_numpy(np.ascontiguousarray(ra, dtype=np.float64)).permute(2, 0, 1)
            if clip is not None:
                x = x.clamp(0, clip)
            own = (slice(r0 - e0, r1 - e0), slice(c0 - f0, c1 - f0))
            s.add_pixels(x[:, own[0], own[1]], r[:, own[0], own[1]])
            xb, rb = x[None], r[None]
            if has_ssim and min(r1, h - 10) > r0 and min(c1, w - 10) > c0:  # windows whose top-left corner is here
                m = ssim_map(xb, rb, data_range=data_range)[0]
                part = m[:, r0 - e0 : min(r1, h - 10) - e0, c0 - f0 : min(c1, w - 10) - f0]
                s.ssim[0] += float(part.sum()) / c
                s.ssim[1] += part.shape[1] * part.shape[2]
            if has_block:
                m = q_map(xb, rb, block_size=bs)[0]
                part = m[:, r0 - e0 : min(r1, h - bs + 1) - e0, c0 - f0 : min(c1, w - bs + 1) - f0]
                s.q[0] += float(part.sum()) / c
                s.q[1] += part.shape[1] * part.shape[2]
            if has_q2n:
                _add_q2n(s, x, r, (r0, r1, e0, h, pad_y), (c0, c1, f0, w, pad_x), bs)
            if has_scc:
                _add_scc(s, x, r, (r0, r1, e0, h), (c0, c1, f0, w))
    mom = s.moments
    assert s.sse is not None and s.ref_sum is not None and mom.m2 is not None
    mse, mu = s.sse / s.pixels, s.ref_sum / s.pixels
    return {
        "psnr": float(10 * torch.log10(data_range**2 / mse.mean())),
        "psnr_bands": float((10 * torch.log10(data_range**2 / mse)).mean()),
        "ssim": s.ssim[0] / s.ssim[1] if has_ssim else None,
        "sam": s.angles / s.angle_count if s.angle_count else math.nan,
        "ergas": float(100 / ratio * torch.sqrt((mse / mu.square()).mean())),
        "q": s.q[0] / s.q[1] if has_block else None,
        "q2n": s.q2n[0] / s.q2n[1] if has_q2n else None,
        "scc": s.scc[0] / math.sqrt(s.scc[1] * s.scc[2]) if has_scc else None,
        "cc": float((mom.m2[2] / (mom.m2[0] * mom.m2[1]).sqrt()).mean()),
        "rmse": float(mse.mean().sqrt()),
    }


def _mirrored(index: range, size: int) -> list[int]:
    """Rows (or columns) of the image extended by mirroring (``_mirror_pad``) in the original's numbering."""
    return [i if i < size else 2 * size - 1 - i for i in index]


def _add_q2n(s: _Sums, x: Tensor, r: Tensor, rows: tuple[int, ...], cols: tuple[int, ...], bs: int) -> None:
    """The Q2n blocks whose top-left corner is inside the window (windows are block-aligned)."""
    (r0, r1, e0, h, pad_y), (c0, c1, f0, w, pad_x) = rows, cols
    ys = range(r0, min(r1, h + pad_y - bs + 1), bs)
    xs = range(c0, min(c1, w + pad_x - bs + 1), bs)
    if not ys or not xs:
        return
    iy = torch.tensor(_mirrored(range(ys[0], ys[-1] + bs), h)) - e0
    ix = torch.tensor(_mirrored(range(xs[0], xs[-1] + bs), w)) - f0
    xb, rb = x[:, iy][:, :, ix][None], r[:, iy][:, :, ix][None]
    values = q2n_values(xb, rb, block_size=bs, shift=bs)
    s.q2n[0] += float(values.sum())
    s.q2n[1] += values.numel()


def _add_scc(s: _Sums, x: Tensor, r: Tensor, rows: tuple[int, ...], cols: tuple[int, ...]) -> None:
    """SCC's terms at the pixels inside the window, of the image without its one-pixel border."""
    (r0, r1, e0, h), (c0, c1, f0, w) = rows, cols
    a0, a1, b0, b1 = max(r0, 1), min(r1, h - 1), max(c0, 1), min(c1, w - 1)
    if a1 <= a0 or b1 <= b0:
        return
    # One pixel around the window, inside the cut image; zeros beyond it (the filter's padding).
    g0, g1, k0, k1 = max(a0 - 1, 1), min(a1 + 1, h - 1), max(b0 - 1, 1), min(b1 + 1, w - 1)
    xs, rs = x[None, :, g0 - e0 : g1 - e0, k0 - f0 : k1 - f0], r[None, :, g0 - e0 : g1 - e0, k0 - f0 : k1 - f0]
    gx, gr = sobel_magnitude(xs)[0], sobel_magnitude(rs)[0]
    own = (slice(a0 - g0, a1 - g0), slice(b0 - k0, b1 - k0))
    gx, gr = gx[:, own[0], own[1]], gr[:, own[0], own[1]]
    s.scc[0] += float((gx * gr).sum())
    s.scc[1] += float(gx.square().sum())
    s.scc[2] += float(gr.square().sum())
