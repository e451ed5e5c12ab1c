"""Reduced-resolution test cases from a reference image (Wald's protocol), written as case folders.

The reference is the ground truth; the inputs are made from it, so that a fused result can be
scored against it.

- HS-MS fusion (``task: hs``): ``hsi`` is the cube degraded in space by the factor (block
  average, Gaussian blur + decimation, or a sensor MTF + decimation); ``msi`` is ``cube @ R.T``
  with the rows of the response R scaled to sum 1 (the standard CAVE protocol).
- Pansharpening (``task: pan``): as the toolbox's ``resize_images.m``, the MS image and the PAN
  are each MTF-filtered and decimated by the ratio; the original MS image is the reference.

A case folder holds the arrays as float32 ``.npy``, the response as ``srf.csv`` (HS) and
``case.json``, which names the files and the protocol; :func:`read_case` reads it back.
"""

from __future__ import annotations

from .cases import CASE_VERSION, CAVE_WAVELENGTHS, read_case, run_simulate, write_case
from .degrade import add_noise, simulate_hs, simulate_pan, simulation_kernel
from .responses import resample_response, spectral_response

__all__ = [
    "CASE_VERSION",
    "CAVE_WAVELENGTHS",
    "add_noise",
    "read_case",
    "resample_response",
    "run_simulate",
    "simulate_hs",
    "simulate_pan",
    "simulation_kernel",
    "spectral_response",
    "write_case",
]
