"""The report's figures, as PNG bytes: images, error maps, spectra, loss curves, estimated degradations.

Matplotlib is imported only when a figure is drawn, and always renders with Agg on a private
canvas (no pyplot state, no open windows).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io import InputError, to_tensor
from ..metrics import format_value, rmse_map, sam_map
from .images import Pixel, as_hwc, default_pixels, false_colour, spectrum_at, stretch_limits

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "figure_curves",
    "figure_error_maps",
    "figure_estimates",
    "figure_images",
    "figure_spectra",
    "need_matplotlib",
    "new_figure",
    "png_bytes",
]

_DPI = 90


def _enlarge(img: np.ndarray, h: int, w: int) -> np.ndarray:
    rows = np.arange(h) * img.shape[0] // h
    cols = np.arange(w) * img.shape[1] // w
    return img[rows][:, cols]


def need_matplotlib() -> None:
    """Raise a one-line InputError now, before any work, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("the report needs matplotlib: pip install 'gdd[demo]'") from None


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on a private Agg canvas (no pyplot state, no window).

    Raises:
        RuntimeError: matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise RuntimeError("the report needs matplotlib: pip install 'gdd[demo]'") from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes at the report's resolution; the figure is cleared."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    fig.clear()
    return buf.getvalue()


def _finite(values: Sequence[np.ndarray]) -> np.ndarray:
    v = np.concatenate([np.ravel(x) for x in values]) if values else np.zeros(0)
    return v[np.isfinite(v)]


def figure_images(
    panels: Mapping[str, np.ndarray],
    *,
    bands: Sequence[int] | None = None,
    percentiles: tuple[float, float] | None = (1.0, 99.0),
    stretch_from: str | None = None,
    pixels: Sequence[Pixel] | None = None,
) -> bytes:
    """False-colour composites side by side (at most five a row), as PNG bytes.

    Panels with as many bands as ``panels[stretch_from]`` (default: the last panel) share its
    stretch and ``bands``; others (a guide with fewer bands) get their own. Smaller panels are
    shown enlarged by nearest neighbour to the largest panel's size, their real size in the title.
    ``pixels`` (row, col on the largest grid) are marked with their numbers.
    """
    arrays = {name: as_hwc(a, name) for name, a in panels.items()}
    if not arrays:
        raise ValueError("no panels to show")
    source = stretch_from if stretch_from is not None else list(arrays)[-1]
    if source not in arrays:
        raise ValueError(f"stretch_from must be one of {list(arrays)}, got {source!r}")
    channels = arrays[source].shape[2]
    shared = stretch_limits(arrays[source], bands=bands, percentiles=percentiles)
    big_h, big_w = max(a.shape[0] for a in arrays.values()), max(a.shape[1] for a in arrays.values())
    rows = math.ceil(len(arrays) / 5)
    cols = math.ceil(len(arrays) / rows)
    side = min(3.0, 12.0 / cols)
    fig = new_figure(side * cols, rows * (side * big_h / big_w + 0.55))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(arrays) :]:
        ax.set_visible(False)
    for ax, (name, a) in zip(axes, arrays.items()):
        if a.shape[2] == channels:
            rgb = false_colour(a, bands=bands, limits=shared)
        else:
            rgb = false_colour(a, percentiles=percentiles)
        h, w = a.shape[:2]
        size = f"{h} × {w} px, {a.shape[2]} band{'s' if a.shape[2] > 1 else ''}"
        if (h, w) != (big_h, big_w):
            rgb = _enlarge(rgb, big_h, big_w)
            size += ", enlarged"
        ax.imshow(rgb)
        ax.set_title(f"{name}\n{size}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        for k, (r, c) in enumerate(pixels or [], start=1):
            ax.plot(c, r, "o", ms=9, mfc="none", mec="white", mew=1.5)
            ax.annotate(str(k), (c, r), xytext=(6, 4), textcoords="offset points", color="white", fontsize=9)
    return png_bytes(fig)


def figure_error_maps(
    result: np.ndarray,
    reference: np.ndarray,
    *,
    baseline: np.ndarray | None = None,
    names: tuple[str, str] = ("result", "baseline"),
) -> bytes:
    """Per-pixel RMSE and SAM (degrees) maps against the reference, as PNG bytes.

    The RMSE maps of the result and the baseline (when given) side by side, then their SAM maps;
    each pair shares one colour scale, from 0 to the 99.5th percentile of both. SAM is grey where
    undefined (an all-zero spectrum).
    """
    ref = as_hwc(reference, "reference")
    estimates = [(names[0], as_hwc(result, "result"))]
    if baseline is not None:
        estimates.append((names[1], as_hwc(baseline, "baseline")))
    for name, est in estimates:
        if est.shape != ref.shape:
            raise ValueError(f"{name} {est.shape} and reference {ref.shape} differ in shape")
    t_ref = to_tensor(ref)
    maps = [
        (name, [rmse_map(to_tensor(e), t_ref).numpy(), sam_map(to_tensor(e), t_ref).numpy()]) for name, e in estimates
    ]
    columns = [("RMSE", "", "magma"), ("SAM", "°", "viridis")]
    n = len(maps)
    side = 2.9 if n > 1 else 3.6
    fig = new_figure(2 * n * side + 1.2, side * ref.shape[0] / ref.shape[1] + 0.6)
    import matplotlib

    axes = fig.subplots(1, 2 * n, squeeze=False)[0]
    for j, (what, unit, cmap) in enumerate(columns):
        values = _finite([m[j] for _, m in maps])
        vmax = float(np.percentile(values, 99.5)) if values.size else 1.0
        vmax = vmax if vmax > 0 else 1.0
        colours = matplotlib.colormaps[cmap].with_extremes(bad="0.75")
        group = axes[j * n : (j + 1) * n]
        for ax, (name, m) in zip(group, maps):
            ok = _finite([m[j]])
            mean = f"mean {format_value(float(ok.mean()), significant=True)}{unit}" if ok.size else "undefined"
            im = ax.imshow(m[j], cmap=colours, vmin=0, vmax=vmax)
            ax.set_title(f"{name}: {what} per pixel\n{mean}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=list(group), shrink=0.85, label=f"{what} ({unit or 'data units'})")
    return png_bytes(fig)


def figure_spectra(
    curves: Mapping[str, np.ndarray],
    pixels: Sequence[Pixel] | None = None,
    *,
    factor: int = 1,
    wavelengths: Sequence[float] | np.ndarray | None = None,
) -> bytes:
    """Spectra of several images at a few pixels, one panel per pixel, as PNG bytes.

    ``pixels`` are (row, col) on the largest image's grid (default :func:`default_pixels`);
    a smaller image is sampled at (row // factor, col // factor) and drawn dashed. All images
    must have the same number of bands; the x axis is ``wavelengths`` (nm) when given.
    """
    arrays = {name: as_hwc(a, name) for name, a in curves.items()}
    if not arrays:
        raise ValueError("no spectra to show")
    counts = {a.shape[2] for a in arrays.values()}
    if len(counts) != 1:
        raise ValueError(f"spectra need images with the same number of bands, got {sorted(counts)}")
    channels = counts.pop()
    x = np.arange(channels) if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)
    if x.shape != (channels,):
        raise ValueError(f"wavelengths must hold {channels} values, one per band, got {x.size}")
    big = (max(a.shape[0] for a in arrays.values()), max(a.shape[1] for a in arrays.values()))
    pixels = list(pixels) if pixels else default_pixels(*big)
    fig = new_figure(min(3.8 * len(pixels), 12.0), 3.3)
    axes = fig.subplots(1, len(pixels), squeeze=False, sharey=True)[0]
    marker = "o" if channels <= 16 else None
    for k, (ax, pixel) in enumerate(zip(axes, pixels), start=1):
        n = 0
        for name, a in arrays.items():
            small = a.shape[:2] != big
            if small and factor == 1:
                raise ValueError(f"{name} is {a.shape[:2]}, smaller than {big}: give the factor")
            colour = "k" if name.lower() in {"reference", "truth", "ground truth"} else f"C{n}"
            n += colour != "k"
            y = spectrum_at(a, pixel, factor=factor if small else 1)
            style = {"ls": "--" if small else "-", "lw": 1.2, "marker": marker, "ms": 3}
            ax.plot(x, y, color=colour, label=name, **style)
        ax.set_title(f"{k}: pixel (row {pixel[0]}, col {pixel[1]})", fontsize=9)
        ax.set_xlabel("wavelength (nm)" if wavelengths is not None else "band")
        if wavelengths is None:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("value")
    axes[0].legend(fontsize=8)
    return png_bytes(fig)


def figure_curves(history: Sequence[tuple[int, float]], psnr: Sequence[tuple[int, float]] | None = None) -> bytes:
    """The loss over iterations (log scale) and, when given, the PSNR (dB) beside it, as PNG bytes."""
    points = [(float(s), float(v)) for s, v in history if math.isfinite(float(v))]
    if not points:
        raise ValueError("history holds no finite (step, loss) values")
    fig = new_figure(10.0 if psnr else 5.5, 3.2)
    axes = fig.subplots(1, 2 if psnr else 1, squeeze=False)[0]
    steps, losses = zip(*points)
    axes[0].plot(steps, losses, color="C0")
    if min(losses) > 0:
        axes[0].set_yscale("log")
    axes[0].set_title("loss", fontsize=10)
    if psnr:
        good = [(float(s), float(v)) for s, v in psnr if math.isfinite(float(v))]
        if good:
            axes[1].plot(*zip(*good), color="C3", marker="." if len(good) < 30 else None)
        axes[1].set_title("PSNR against the reference (dB)", fontsize=10)
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    return png_bytes(fig)


def figure_estimates(
    srf: np.ndarray,
    kernel: np.ndarray | None,
    *,
    factor: int,
    wavelengths: Sequence[float] | None = None,
    residual: float | None = None,
) -> bytes:
    """PNG: an estimated (K, C) response against wavelength, beside the estimated (s, s) kernel.

    Without a kernel, the response alone. The kernel is shown on its high-resolution grid with
    the block it would average without blur (dashed) and its centroid (a cross), so that blur
    and offset can be judged at a glance.
    """
    r = np.atleast_2d(np.asarray(srf, dtype=np.float64))
    x = np.asarray(wavelengths, dtype=np.float64) if wavelengths is not None else np.arange(r.shape[1])
    fig = new_figure(9.0 if kernel is not None else 5.6, 3.4)
    if kernel is not None:
        ax, bx = fig.subplots(1, 2, width_ratios=(1.6, 1))
    else:
        ax, bx = fig.subplots(1, 1), None
    colours = ["tab:blue", "tab:green", "tab:red"] if r.shape[0] == 3 else [None] * r.shape[0]
    # CAVE-style responses list blue first; colour the rows by where they peak, not by their order.
    order = np.argsort(np.argsort(np.argmax(r, axis=1))) if r.shape[0] == 3 else np.arange(r.shape[0])
    for i, row in enumerate(r):
        ax.plot(x, row, marker=".", color=colours[order[i]], label=f"guide band {i + 1}")
    ax.set_xlabel("wavelength (nm)" if wavelengths is not None else "HS band")
    ax.set_ylabel("response")
    title = "estimated spectral response"
    if residual is not None:
        title += f" (residual {residual:.1%})"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    if kernel is None or bx is None:
        return png_bytes(fig)
    k = np.asarray(kernel, dtype=np.float64)
    s = k.shape[0]
    bx.imshow(k, cmap="magma", interpolation="nearest")
    p = (s - factor) / 2
    bx.add_patch(_rectangle(p - 0.5, factor))
    t = np.arange(s)
    total = k.sum() or 1.0
    bx.plot((k.sum(0) * t).sum() / total, (k.sum(1) * t).sum() / total, "c+", markersize=12, mew=2)
    bx.set_title(f"estimated blur ({s} x {s}, factor {factor})", fontsize=10)
    return png_bytes(fig)


def _rectangle(corner: float, size: int) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((corner, corner), size, size, fill=False, edgecolor="white", linestyle="--")
