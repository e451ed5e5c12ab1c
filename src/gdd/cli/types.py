"""Argument types of the command line: each turns one option's text into a value or a one-line error."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from ..checks import nonnegative_int, positive_int

__all__ = [
    "band_triple",
    "bit_depth",
    "factor",
    "finite_number",
    "method_list",
    "nodata",
    "nonneg_int",
    "overlap",
    "percentiles",
    "pixel",
    "positive",
    "positive_number",
    "shift",
    "supports",
    "tile",
]


def _int_type(check: Callable[[object, str], int], expected: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return check(int(text), "value")
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None

    return parse


positive = _int_type(positive_int, "a positive integer")
nonneg_int = _int_type(nonnegative_int, "a non-negative integer")


def factor(text: str) -> int:
    """A resolution ratio: an integer of at least 2."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer of at least 2, got {text!r}")
    return value


def _float(text: str) -> float:
    """The number written, NaN where none is."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def finite_number(text: str) -> float:
    """Any finite number (a signal-to-noise ratio in dB)."""
    value = _float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def share(text: str) -> float:
    """A share in [0, 1) (of the pixels held out)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 up to (not including) 1, got {text}")
    return value


def positive_number(text: str) -> float:
    """A finite number above 0 (a learning rate, a data range, a blur's width)."""
    value = _float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def bit_depth(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 32:
        raise argparse.ArgumentTypeError(f"expected a bit depth from 1 to 32, got {text!r}")
    return value


def _ints(text: str, count: int, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if len(values) != count or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return values


def band_triple(text: str) -> tuple[int, ...]:
    return _ints(text, 3, "three band numbers R,G,B counted from 0")


def pixel(text: str) -> tuple[int, ...]:
    return _ints(text, 2, "ROW,COL counted from 0")


def tile(text: str) -> str | int:
    if text in ("auto", "none"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a tile size in pixels, auto or none, got {text!r}") from None
    if value < 8:
        raise argparse.ArgumentTypeError(f"expected a tile of at least 8 pixels, got {text!r}")
    return value


def overlap(text: str) -> str | int:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an overlap in pixels or auto, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative overlap, got {text!r}")
    return value


def shift(text: str) -> tuple[int, int]:
    try:
        dy, dx = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DY,DX in whole pixels, got {text!r}") from None
    return dy, dx


def supports(text: str) -> tuple[tuple[int, int], ...]:
    spans = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi if sep else lo)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected band ranges LO-HI,... counted from 0, got {text!r}") from None
        if a < 0 or b < a:
            raise argparse.ArgumentTypeError(f"expected band ranges LO-HI with 0 <= LO <= HI, got {part.strip()!r}")
        spans.append((a, b))
    return tuple(spans)


def percentiles(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH percentiles, got {text!r}") from None
    if not 0 <= lo < hi <= 100:
        raise argparse.ArgumentTypeError(f"expected 0 <= LOW < HIGH <= 100, got {text!r}")
    return lo, hi


def nodata(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or nan, got {text!r}") from None


def method_list(text: str) -> list[str]:
    methods = [m.strip().replace("-", "_").lower() for m in text.split(",") if m.strip()]
    if not methods:
        raise argparse.ArgumentTypeError(f"expected method names separated by commas, e.g. gdd,gsa, got {text!r}")
    return methods


def shard(text: str) -> tuple[int, int]:
    """``I/N`` (1 <= I <= N): the I-th of N shares of a batch's jobs."""
    parts = text.split("/")
    try:
        i, n = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N, e.g. 1/4 (the first of four shares), got {text!r}") from None
    if n < 1 or not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N, got {text!r}")
    return i, n


def gains(text: str) -> tuple[float, ...]:
    """MTF gains at Nyquist: one number, or one per band, each in (0, 1)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected gains like 0.3 or 0.34,0.32,0.30,0.22, got {text!r}") from None
    if not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected gains between 0 and 1 (not included), got {text!r}")
    return values


def creation_option(text: str) -> tuple[str, str]:
    """A GDAL creation option KEY=VALUE."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip() or not key.strip().replace("_", "").isalnum():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. COMPRESS=ZSTD, got {text!r}")
    return key.strip().upper(), value.strip()
