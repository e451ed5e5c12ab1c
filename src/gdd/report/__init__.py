"""Figures and a self-contained HTML report for a fusion result; the only package that plots.

Images are H x W x C float arrays (a 2-D array is one band), nominally in [0, 1] but not assumed
to be. Figures come back as PNG bytes; :func:`write_report` embeds them as ``data:`` URIs, so the
report is one file that opens anywhere with no network. Matplotlib is imported only when a figure
is drawn, and always renders with Agg on a private canvas (no pyplot state, no open windows).

:mod:`gdd.report.images` holds the composites and spectra (numpy only), :mod:`gdd.report.figures`
the figures, :mod:`gdd.report.page` the HTML writer.
"""

from __future__ import annotations

from .figures import (
    figure_curves,
    figure_error_maps,
    figure_estimates,
    figure_images,
    figure_spectra,
    need_matplotlib,
)
from .images import default_pixels, false_colour, spectrum_at, stretch_limits
from .page import write_report

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
