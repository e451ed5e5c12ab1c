"""Figures and a self-contained HTML report for a fusion result; the only module that plots.

Images are H x W x C float arrays (a 2-D array is one band), nominally in [0, 1] but not assumed
to be. Figures come back as PNG bytes; :func:`write_report` embeds them as ``data:`` URIs, so the
report is one file that opens anywhere with no network. Matplotlib is imported only when a figure
is drawn, and always renders with Agg on a private canvas (no pyplot state, no open windows).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from .io import InputError, atomic, check_output, preview_bands, to_tensor
from .metrics import HIGHER_IS_BETTER, LABELS, rmse_map, sam_map

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "default_pixels",
    "false_colour",
    "figure_curves",
    "figure_error_maps",
    "figure_estimates",
    "figure_images",
    "figure_spectra",
    "need_matplotlib",
    "spectrum_at",
    "stretch_limits",
    "write_report",
]

Limits = tuple[np.ndarray, np.ndarray]
Pixel = tuple[int, int]

_DPI = 90
# Index names as the metrics module spells them (lower case) -> how a table shows them.
_LABELS = {k: v.replace("D_lambda", "D_λ") for k, v in LABELS.items()}
_HIGHER = {k: _LABELS[k] for k, up in HIGHER_IS_BETTER.items() if up}
_LOWER = {k: _LABELS[k] for k, up in HIGHER_IS_BETTER.items() if not up}


def _hwc(arr: np.ndarray, name: str = "image") -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or min(a.shape) < 1:
        raise ValueError(f"{name}: expected an H x W or H x W x C array, got shape {a.shape}")
    return a


def _bands(bands: Sequence[int] | None, channels: int) -> list[int]:
    if bands is None:
        return preview_bands(channels)
    chosen = [int(b) for b in bands]
    if len(chosen) != 3 or not all(0 <= b < channels for b in chosen):
        raise ValueError(f"bands must be three indices in [0, {channels - 1}], got {list(bands)}")
    return chosen


def stretch_limits(
    arr: np.ndarray, *, bands: Sequence[int] | None = None, percentiles: tuple[float, float] | None = (1.0, 99.0)
) -> Limits:
    """Per-band (low, high) stretch limits of the red, green, blue bands of ``arr``.

    Compute them once (from the reference, else the result) and pass them as ``limits`` to
    :func:`false_colour` for every image shown beside it, so that colours are comparable.
    ``percentiles=None`` keeps values as they are: limits (0, 1). Non-finite values are ignored.

    Returns:
        ``(low, high)``, two float64 arrays of length 3.

    Example:
        >>> lo, hi = stretch_limits(np.arange(101.0).reshape(1, 101), percentiles=(10, 90))
        >>> lo.tolist(), hi.tolist()
        ([10.0, 10.0, 10.0], [90.0, 90.0, 90.0])
    """
    a = _hwc(arr)
    chosen = _bands(bands, a.shape[2])
    if percentiles is None:
        return np.zeros(3), np.ones(3)
    if not 0 <= percentiles[0] < percentiles[1] <= 100:
        raise ValueError(f"percentiles must be (low, high) with 0 <= low < high <= 100, got {percentiles}")
    lo, hi = np.zeros(3), np.ones(3)
    for k, b in enumerate(chosen):
        v = a[..., b].astype(np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            lo[k], hi[k] = np.percentile(v, percentiles)
    return lo, hi


def false_colour(
    arr: np.ndarray,
    *,
    bands: Sequence[int] | None = None,
    percentiles: tuple[float, float] | None = (1.0, 99.0),
    limits: Limits | None = None,
) -> np.ndarray:
    """An 8-bit H x W x 3 composite of three bands, each stretched linearly between its limits.

    Args:
        arr: H x W x C (or H x W) image.
        bands: the red, green, blue band indices; default :func:`gdd.io.preview_bands` (one band is grey).
        percentiles: the stretch when ``limits`` is not given (see :func:`stretch_limits`).
        limits: shared ``(low, high)`` limits from :func:`stretch_limits`; they win over ``percentiles``.

    Example:
        >>> false_colour(np.array([[0.0, 30.0, 50.0, 100.0]]), percentiles=None)[..., 0].tolist()
        [[0, 255, 255, 255]]
    """
    a = _hwc(arr)
    chosen = _bands(bands, a.shape[2])
    lo, hi = limits if limits is not None else stretch_limits(a, bands=chosen, percentiles=percentiles)
    rgb = (a[..., chosen].astype(np.float64) - lo) / np.maximum(hi - lo, 1e-12)
    rgb = np.clip(np.nan_to_num(rgb, nan=0.0), 0, 1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def _enlarge(img: np.ndarray, h: int, w: int) -> np.ndarray:
    rows = np.arange(h) * img.shape[0] // h
    cols = np.arange(w) * img.shape[1] // w
    return img[rows][:, cols]


def default_pixels(h: int, w: int) -> list[Pixel]:
    """Three well spread (row, col) pixels of an h x w image, away from the borders.

    Example:
        >>> default_pixels(64, 64)
        [(16, 16), (32, 48), (48, 21)]
    """
    return [(h // 4, w // 4), (h // 2, 3 * w // 4), (3 * h // 4, w // 3)]


def spectrum_at(arr: np.ndarray, pixel: Pixel, *, factor: int = 1) -> np.ndarray:
    """The spectrum at a high-resolution ``pixel`` of an image ``factor`` times smaller: arr[row // f, col // f].

    Example:
        >>> spectrum_at(np.arange(8.0).reshape(2, 2, 2), (3, 1), factor=2).tolist()
        [4.0, 5.0]
    """
    a = _hwc(arr)
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    i, j = pixel[0] // factor, pixel[1] // factor
    if not (0 <= i < a.shape[0] and 0 <= j < a.shape[1]):
        raise ValueError(f"pixel {tuple(pixel)} with factor {factor} falls outside a {a.shape[0]} x {a.shape[1]} image")
    return a[i, j].astype(np.float64)


def need_matplotlib() -> None:
    """Raise a one-line InputError now, before any work, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("the report needs matplotlib: pip install 'gdd[demo]'") from None


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise RuntimeError("the report needs matplotlib: pip install 'gdd[demo]'") from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
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
    arrays = {name: _hwc(a, name) for name, a in panels.items()}
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
    fig = _figure(side * cols, rows * (side * big_h / big_w + 0.55))
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
    return _png(fig)


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
    ref = _hwc(reference, "reference")
    estimates = [(names[0], _hwc(result, "result"))]
    if baseline is not None:
        estimates.append((names[1], _hwc(baseline, "baseline")))
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
    fig = _figure(2 * n * side + 1.2, side * ref.shape[0] / ref.shape[1] + 0.6)
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
            mean = f"mean {_fmt(float(ok.mean()))}{unit}" if ok.size else "undefined"
            im = ax.imshow(m[j], cmap=colours, vmin=0, vmax=vmax)
            ax.set_title(f"{name}: {what} per pixel\n{mean}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=list(group), shrink=0.85, label=f"{what} ({unit or 'data units'})")
    return _png(fig)


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
    arrays = {name: _hwc(a, name) for name, a in curves.items()}
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
    fig = _figure(min(3.8 * len(pixels), 12.0), 3.3)
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
    return _png(fig)


def figure_curves(history: Sequence[tuple[int, float]], psnr: Sequence[tuple[int, float]] | None = None) -> bytes:
    """The loss over iterations (log scale) and, when given, the PSNR (dB) beside it, as PNG bytes."""
    points = [(float(s), float(v)) for s, v in history if math.isfinite(float(v))]
    if not points:
        raise ValueError("history holds no finite (step, loss) values")
    fig = _figure(10.0 if psnr else 5.5, 3.2)
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
    return _png(fig)


def _fmt(v: object) -> str:
    """A number for a table: four significant digits, 'n/a' for None or NaN.

    Example:
        >>> [_fmt(v) for v in (None, float("nan"), 31.41592, 0.000123456, 12345.6, 3)]
        ['n/a', 'n/a', '31.42', '0.0001235', '12346', '3']
    """
    if v is None:
        return "n/a"
    if isinstance(v, (bool, str)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "n/a"
        if math.isinf(f) or abs(f) >= 1e4:
            return f"{f:.0f}" if math.isfinite(f) else ("inf" if f > 0 else "-inf")
        return f"{f:.4g}"
    return str(v)


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_").replace("λ", "lambda")


def _metrics_html(metrics: Mapping[str, Mapping[str, float | None]]) -> str:
    columns: list[str] = []
    for row in metrics.values():
        columns += [c for c in row if c not in columns]
    if not columns:
        return ""
    e = html.escape
    head, better = [], []
    for c in columns:
        k = _key(c)
        shown = _HIGHER.get(k) or _LOWER.get(k) or c
        arrow = " ↑" if k in _HIGHER else " ↓" if k in _LOWER else ""
        head.append(f"<th>{e(shown)}{arrow}</th>")
    best: dict[str, float] = {}
    for c in columns:
        k = _key(c)
        vals = [float(v) for r in metrics.values() if isinstance(v := r.get(c), (int, float)) and not math.isnan(v)]
        if len(vals) > 1 and (k in _HIGHER or k in _LOWER):
            best[c] = max(vals) if k in _HIGHER else min(vals)
    body = []
    for method, row in metrics.items():
        cells = []
        for c in columns:
            v = row.get(c)
            text = e(_fmt(v))
            bold = c in best and isinstance(v, (int, float)) and float(v) == best[c]
            cells.append(f"<td>{f'<b>{text}</b>' if bold else text}</td>")
        body.append(f"<tr><th>{e(str(method))}</th>{''.join(cells)}</tr>")
    keys = [_key(c) for c in columns]
    up = [_HIGHER[k] for k in keys if k in _HIGHER]
    down = [_LOWER[k] for k in keys if k in _LOWER]
    if up:
        better.append(f"higher is better for {', '.join(up)}")
    if down:
        better.append(f"lower is better for {', '.join(down)}")
    units = [u for k, u in (("psnr", "PSNR in dB"), ("sam", "SAM in degrees")) if k in keys]
    note = "; ".join(better)
    note = note[:1].upper() + note[1:] + (f" ({', '.join(units)})" if units else "")
    note += ". The best value of each index is in bold." if best else ("." if note else "")
    table = f"<table><tr><th></th>{''.join(head)}</tr>{''.join(body)}</table>"
    return f'<div class="wide">{table}</div>' + (f'<p class="note">{e(note)}</p>' if note else "")


def _value(v: object) -> str:
    if isinstance(v, (Mapping, list, tuple)):
        return json.dumps(v, default=str, ensure_ascii=False)
    return _fmt(v)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


_CSS = """
body { margin: 0; background: #f6f7f9; color: #1d2330; font: 15px/1.5 system-ui, -apple-system, "Segoe UI",
  Roboto, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 40px; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { font-size: 1.15em; margin: 28px 0 8px;
  border-bottom: 1px solid #e3e6eb; padding-bottom: 4px; }
.lead, .note, footer { color: #5a6272; } .note { font-size: 0.9em; margin-top: 6px; }
img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 0.95em; }
th, td { padding: 4px 12px; border-bottom: 1px solid #e3e6eb; text-align: right; }
th:first-child { text-align: left; } table:not(.kv) tr:first-child th { border-bottom: 2px solid #c9ced6; }
table.kv td { text-align: left; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9em;
  word-break: break-word; } table.kv th { font-weight: 600; }
footer { margin-top: 32px; font-size: 0.85em; }
"""


def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    inputs: Mapping[str, np.ndarray],
    result: np.ndarray,
    reference: np.ndarray | None = None,
    baseline: np.ndarray | None = None,
    metrics: Mapping[str, Mapping[str, float | None]] | None = None,
    history: Sequence[tuple[int, float]] | None = None,
    psnr: Sequence[tuple[int, float]] | None = None,
    settings: Mapping[str, Any] | None = None,
    bands: Sequence[int] | None = None,
    pixels: Sequence[Pixel] | None = None,
    factor: int = 1,
    wavelengths: Sequence[float] | np.ndarray | None = None,
    percentiles: tuple[float, float] | None = (1.0, 99.0),
    baseline_name: str = "baseline",
    force: bool = False,
) -> Path:
    """Write one self-contained HTML report (figures embedded, no external resources), atomically.

    Sections, each left out when it has nothing to show: the images as false-colour composites
    sharing one stretch (from the reference if given, else the result); the metrics table (rows
    are methods, columns indices); RMSE and SAM maps (with a reference); spectra at ``pixels``
    (inputs ``factor`` times smaller are sampled at row // factor, col // factor); the loss and
    PSNR curves (with a ``history``); the settings; the gdd version.

    Raises:
        InputError: ``path`` is not a ``.html`` name, or exists and ``force`` is False.
        RuntimeError: matplotlib is not installed.
    """
    p = check_output(path, force=force, suffixes=(".html", ".htm"), what="report")
    res = _hwc(result, "result")
    if reference is not None and _hwc(reference, "reference").shape != res.shape:
        raise ValueError(f"result {res.shape} and reference {np.shape(reference)} differ in shape")
    h, w, channels = res.shape
    pixels = list(pixels) if pixels else default_pixels(h, w)
    panels = {**inputs}
    if baseline is not None:
        panels[baseline_name] = baseline
    panels["result"] = res
    if reference is not None:
        panels["reference"] = reference
    e = html.escape
    what = "the inputs, the fused result" + (" and the reference" if reference is not None else "")
    parts = [f"<h1>{e(title)}</h1>", f'<p class="lead">Guided Deep Decoder fusion report: {e(what)}.</p>']
    marked = pixels if channels > 1 else None
    images = figure_images(panels, bands=bands, percentiles=percentiles, pixels=marked)
    note = "False colour; images with the same bands share one stretch, so their colours compare."
    note += " Numbered circles mark the pixels of the spectra below." if marked else ""
    parts += ["<h2>Images</h2>", _img(images, "false-colour composites"), f'<p class="note">{note}</p>']
    table = _metrics_html(metrics or {})
    if table:
        parts += ["<h2>Quality indices</h2>", table]
    if reference is not None:
        maps = figure_error_maps(res, reference, baseline=baseline, names=("result", baseline_name))
        parts += ["<h2>Error maps against the reference</h2>", _img(maps, "RMSE and SAM maps")]
    curves: dict[str, np.ndarray] = {}
    if reference is not None:
        curves["reference"] = reference
    curves["result"] = res
    if baseline is not None:
        curves[baseline_name] = baseline
    for name, a in inputs.items():
        a = _hwc(a, name)
        grid = {(h, w), (h // factor, w // factor), (-(-h // factor), -(-w // factor))}
        if a.shape[2] == channels and a.shape[:2] in grid and name not in curves:
            curves[name] = a
    if channels > 1:
        spectra = figure_spectra(curves, pixels, factor=factor, wavelengths=wavelengths)
        parts += ["<h2>Spectra at the marked pixels</h2>", _img(spectra, "spectral profiles")]
    if history:
        parts += ["<h2>Optimisation</h2>", _img(figure_curves(history, psnr), "loss and PSNR over iterations")]
    if settings:
        rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(_value(v))}</td></tr>" for k, v in settings.items())
        parts += ["<h2>Settings</h2>", f'<div class="wide"><table class="kv">{rows}</table></div>']
    stamp = time.strftime("%Y-%m-%d %H:%M")
    parts.append(f"<footer>Made by gdd {e(__version__)} on {e(stamp)}.</footer>")
    text = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{e(title)}</title>\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(parts) + "\n</main>\n</body>\n</html>\n"
    )
    atomic(p, lambda t: t.write_text(text, encoding="utf-8"))
    return p


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
    fig = _figure(9.0 if kernel is not None else 5.6, 3.4)
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
        return _png(fig)
    k = np.asarray(kernel, dtype=np.float64)
    s = k.shape[0]
    bx.imshow(k, cmap="magma", interpolation="nearest")
    p = (s - factor) / 2
    bx.add_patch(_rectangle(p - 0.5, factor))
    t = np.arange(s)
    total = k.sum() or 1.0
    bx.plot((k.sum(0) * t).sum() / total, (k.sum(1) * t).sum() / total, "c+", markersize=12, mew=2)
    bx.set_title(f"estimated blur ({s} x {s}, factor {factor})", fontsize=10)
    return _png(fig)


def _rectangle(corner: float, size: int) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((corner, corner), size, size, fill=False, edgecolor="white", linestyle="--")
