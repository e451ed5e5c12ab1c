"""Checks every module makes of its arguments, written once: whole numbers, images, pairs at a factor.

Each raises ``ValueError`` with a message that names the argument, says what was expected and
shows what came. Torch is imported only by the checks of tensors, so that the command line's
parser can use the others without it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "LayoutWarning",
    "band_mismatch",
    "grid_mismatch",
    "layout_known",
    "nonnegative_int",
    "pair_at_factor",
    "positive_int",
    "single_image",
    "sizes_at_factor",
    "warn_if_hwc",
]


class LayoutWarning(UserWarning):
    """An image tensor whose shape reads more naturally as H x W x C than as the C x H x W it is taken for."""


def positive_int(value: object, name: str) -> int:
    """``value`` as an int if it is a whole number of at least 1 (``True`` is not a number here).

    Example:
        >>> positive_int(4, "factor")
        4
        >>> positive_int(0, "factor")
        Traceback (most recent call last):
        ...
        ValueError: factor must be a positive integer, got 0
    """
    if isinstance(value, bool) or not _whole(value) or int(value) < 1:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def nonnegative_int(value: object, name: str) -> int:
    """``value`` as an int if it is a whole number of at least 0.

    Example:
        >>> nonnegative_int(0, "overlap")
        0
    """
    if isinstance(value, bool) or not _whole(value) or int(value) < 0:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def _whole(value: object) -> bool:
    try:
        return int(value) == value  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError, OverflowError):
        return False


def single_image(x: Tensor, name: str) -> Tensor:
    """One finite image as (1, C, H, W) (a (C, H, W) one gains the batch axis), else ``ValueError``.

    Example:
        >>> import torch
        >>> tuple(single_image(torch.zeros(3, 4, 5), "guide").shape)
        (1, 3, 4, 5)
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"{name} must hold real numbers, got {x.dtype}")
    x = x.detach()  # an input that requires grad is data here, not a parameter
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"{name} must be (1, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    return x


def warn_if_hwc(x: Tensor, name: str) -> None:
    """Warn (:class:`LayoutWarning`) when a (1, C, H, W) image looks like an H x W x C one.

    Tensors are read as C x H x W, PyTorch's order; an H x W x C image (as NumPy, PIL and imageio
    hold one) would be fused as H bands of W x C pixels without a word. The sign: the image is
    at most 4 pixels wide and narrower than both its other axes, which an image worth fusing
    is not. A warning and not an error, so that a true C x H x W image that narrow still runs;
    silence it with :mod:`warnings` and :class:`LayoutWarning`.

    Example:
        >>> import torch, warnings
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     warn_if_hwc(torch.zeros(1, 64, 48, 3), "guide")
        >>> str(w[0].message)[:52]
        'guide is read as 64 bands of 48 x 3 pixels (tensors '
    """
    import warnings

    c, h, w = x.shape[-3:]
    if w <= 4 and w < min(c, h) and not _LAYOUT_KNOWN.get():
        warnings.warn(
            f"{name} is read as {c} bands of {h} x {w} pixels (tensors are C x H x W); an H x W x C "
            "image needs .permute(2, 0, 1), or gdd.arrays takes NumPy arrays as H x W x C",
            LayoutWarning,
            stacklevel=3,
        )


_LAYOUT_KNOWN: ContextVar[bool] = ContextVar("gdd_layout_known", default=False)


@contextmanager
def layout_known() -> Iterator[None]:
    """Within it :func:`warn_if_hwc` says nothing: the layout is known (arrays read as H x W x C, a problem remade)."""
    token = _LAYOUT_KNOWN.set(True)
    try:
        yield
    finally:
        _LAYOUT_KNOWN.reset(token)


def pair_at_factor(lr: Tensor, hr: Tensor, factor: int, what: str) -> None:
    """Check that the high-resolution image is ``factor`` times the low-resolution one on each side.

    Raises:
        ValueError: naming ``what`` (the low-resolution image) and both sizes.
    """
    sizes_at_factor(tuple(lr.shape[-2:]), tuple(hr.shape[-2:]), factor, what)


def sizes_at_factor(lr_hw: tuple[int, ...], hr_hw: tuple[int, ...], factor: int, what: str) -> None:
    """:func:`pair_at_factor` on sizes ``(h, w)`` (of files not read yet)."""
    h, w = hr_hw
    if h % factor or w % factor:
        raise ValueError(f"the guide's size {h} x {w} is not divisible by the factor {factor}")
    if tuple(lr_hw) != (h // factor, w // factor):
        # The low-resolution image the larger, by the factor: the two were given the other way round.
        swapped = tuple(lr_hw) == (h * factor, w * factor)
        raise ValueError(
            f"{what} is {lr_hw[0]} x {lr_hw[1]} but the guide {h} x {w} / factor {factor} "
            f"needs {h // factor} x {w // factor}"
            + ("; were the two inputs given the other way round?" if swapped else "")
        )


def grid_mismatch(
    lr: tuple[float, ...],
    hr: tuple[float, ...],
    factor: int,
    tolerance: float = 0.1,
    size: tuple[int, int] | None = None,
) -> str:
    """Why a low-resolution grid is not the high-resolution one coarsened by ``factor`` ("" if it is).

    Transforms are GDAL's affine (a, b, c, d, e, f): pixel sizes a and e, origin (c, f). The
    low-resolution pixel must be ``factor`` high-resolution pixels, and the two grids' corners
    must meet, each within ``tolerance`` of a high-resolution pixel: the origins, and with the
    low-resolution image's ``size`` (rows, columns) its far corner, where a pixel size a little
    off has added up over the image. Rotated grids are checked the same way; a grid rotated or
    flipped against the other is refused.

    Example:
        >>> grid_mismatch((40.0, 0, 500000.0, 0, -40.0, 4e6), (10.0, 0, 500000.0, 0, -10.0, 4e6), 4)
        ''
        >>> grid_mismatch((40.0, 0, 500020.0, 0, -40.0, 4e6), (10.0, 0, 500000.0, 0, -10.0, 4e6), 4)
        'its origin is 2.0 column(s), 0.0 row(s) of the finer grid away'
    """
    import numpy as np

    a, b, c, d, e, f = lr[:6]
    ha, hb, hc, hd, he, hf = hr[:6]
    step, fine = np.array([[a, b], [d, e]], float), np.array([[ha, hb], [hd, he]], float)
    if not np.allclose(step, factor * fine, rtol=0, atol=tolerance * np.abs(fine).max()):
        sizes = np.hypot(step[0], step[1])  # the ground lengths of a column's and a row's step
        coarse = factor * np.hypot(fine[0], fine[1])
        if np.abs(sizes - coarse).max() > tolerance * np.abs(fine).max():
            given, wanted = (f"{x[0]:g} x {x[1]:g}" for x in (sizes, coarse))
            return f"its pixel is {given}, the finer one's times {factor} is {wanted}"
        return (
            f"its grid is rotated or flipped against the finer one's (pixel steps {a:g}, {b:g}, {d:g}, {e:g} "
            f"against {ha:g}, {hb:g}, {hd:g}, {he:g} times {factor})"
        )
    cols, rows = (round(float(v), 6) + 0.0 for v in np.linalg.solve(fine, [c - hc, f - hf]))  # + 0.0: no "-0.0"
    if abs(cols) > tolerance or abs(rows) > tolerance:
        return f"its origin is {cols:.1f} column(s), {rows:.1f} row(s) of the finer grid away"
    if size is not None:  # the far corner, in the finer grid's pixels from where it should be
        far = np.linalg.solve(fine, step @ [size[1], size[0]]) - factor * np.array([size[1], size[0]])
        if np.abs(far).max() > tolerance:
            sizes, coarse = np.hypot(step[0], step[1]), factor * np.hypot(fine[0], fine[1])
            return (
                f"its pixel is {sizes[0]:g} x {sizes[1]:g}, the finer one's times {factor} is {coarse[0]:g} x "
                f"{coarse[1]:g}, which over its {size[0]} x {size[1]} pixels puts its far corner {far[0]:.1f} "
                f"column(s), {far[1]:.1f} row(s) of the finer grid away"
            )
    return ""


def band_mismatch(ours: Sequence[float] | None, theirs: Sequence[float] | None) -> str | None:
    """How the band wavelengths ``theirs`` (nm) differ from ``ours``, in words; None where they agree or one is unsaid.

    Example:
        >>> band_mismatch([450.0, 550.0, 650.0], [650.0, 550.0, 450.0])
        'bands at 650-450 nm (the reverse order)'
        >>> band_mismatch([450.0, 550.0], [450.2, 550.1]) is None
        True
    """
    if ours is None or theirs is None:
        return None
    a, b = [float(v) for v in ours], [float(v) for v in theirs]

    def same(x: list[float], y: list[float]) -> bool:
        return len(x) == len(y) and all(abs(u - v) <= max(0.5, 1e-3 * abs(u)) for u, v in zip(x, y))

    if same(a, b):
        return None
    span = f"bands at {b[0]:g}-{b[-1]:g} nm" if len(b) > 1 else f"a band at {b[0]:g} nm"
    return span + (" (the reverse order)" if same(a, b[::-1]) else "")
