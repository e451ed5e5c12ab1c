"""The self-contained HTML report of a fusion result: figures embedded, the indices, the settings.

Images are H x W x C float arrays (a 2-D array is one band), nominally in [0, 1] but not assumed
to be. :func:`write_report` embeds the figures of :mod:`gdd.report.figures` as ``data:`` URIs, so
the report is one file that opens anywhere with no network.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..io import atomic, check_output
from ..metrics import HIGHER_IS_BETTER, by_direction, format_value, label, metric_key
from .figures import figure_curves, figure_error_maps, figure_images, figure_spectra
from .images import Pixel, as_hwc, default_pixels

__all__ = ["metrics_table", "write_report"]


def metrics_table(metrics: Mapping[str, Mapping[str, float | None]]) -> str:
    """The HTML table of indices (rows are methods, columns indices) and its note, or "" when empty.

    Columns are named as people write them (``"PSNR"``, ``"d_lambda"``, ``"D-λ"``): a known index
    is shown by its label with an arrow for its direction, and with more than one method its best
    value is in bold; any other column is shown as it is.
    """
    columns: list[str] = []
    for row in metrics.values():
        columns += [c for c in row if c not in columns]
    if not columns:
        return ""
    e = html.escape
    head, better = [], []
    for c in columns:
        k = metric_key(c)
        shown = label(k, unicode=True) if k in HIGHER_IS_BETTER else c
        higher = HIGHER_IS_BETTER.get(k)
        arrow = "" if higher is None else " ↑" if higher else " ↓"
        head.append(f"<th>{e(shown)}{arrow}</th>")
    best: dict[str, float] = {}
    for c in columns:
        k = metric_key(c)
        vals = [float(v) for r in metrics.values() if isinstance(v := r.get(c), (int, float)) and not math.isnan(v)]
        if len(vals) > 1 and k in HIGHER_IS_BETTER:
            best[c] = max(vals) if HIGHER_IS_BETTER[k] else min(vals)
    body = []
    for method, row in metrics.items():
        cells = []
        for c in columns:
            v = row.get(c)
            text = e(format_value(v, significant=True))
            bold = c in best and isinstance(v, (int, float)) and float(v) == best[c]
            cells.append(f"<td>{f'<b>{text}</b>' if bold else text}</td>")
        body.append(f"<tr><th>{e(str(method))}</th>{''.join(cells)}</tr>")
    keys = [metric_key(c) for c in columns]
    up, down = ([label(k, unicode=True) for k in ks] for ks in by_direction(keys))
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
    return format_value(v, significant=True)


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
    res = as_hwc(result, "result")
    if reference is not None and as_hwc(reference, "reference").shape != res.shape:
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
    table = metrics_table(metrics or {})
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
        a = as_hwc(a, name)
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
