"""How the indices are named, which way is better, which a table shows, and how a value is written.

One place for what every table of indices needs (``gdd eval``'s table and CSV, ``gdd bench``'s
Markdown and CSV, the HTML report's table): the keys are those of
:func:`gdd.metrics.reduced_resolution` and :func:`gdd.metrics.full_resolution`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

__all__ = [
    "BENCH_COLUMNS",
    "COLUMNS",
    "DECIMALS",
    "HIGHER_IS_BETTER",
    "LABELS",
    "by_direction",
    "format_value",
    "label",
    "metric_key",
]

#: How tables name each index reported by :func:`gdd.metrics.reduced_resolution` and
#: :func:`gdd.metrics.full_resolution`.
LABELS: dict[str, str] = {
    "psnr": "PSNR",
    "psnr_bands": "PSNR/band",
    "ssim": "SSIM",
    "sam": "SAM",
    "ergas": "ERGAS",
    "q": "Q",
    "q2n": "Q2n",
    "scc": "SCC",
    "cc": "CC",
    "rmse": "RMSE",
    "d_lambda": "D_lambda",
    "d_s": "D_s",
    "qnr": "QNR",
    "d_lambda_khan": "D_lambda^K",
    "hqnr": "HQNR",
}

#: Direction of each index reported by :func:`gdd.metrics.reduced_resolution` and
#: :func:`gdd.metrics.full_resolution`.
HIGHER_IS_BETTER: dict[str, bool] = {
    "psnr": True,
    "psnr_bands": True,
    "ssim": True,
    "cc": True,
    "q": True,
    "q2n": True,
    "scc": True,
    "sam": False,
    "ergas": False,
    "rmse": False,
    "d_lambda": False,
    "d_s": False,
    "qnr": True,
    "d_lambda_khan": False,
    "hqnr": True,
}

#: Every index of each protocol, in table order (``gdd eval``'s table and CSV).
COLUMNS: dict[str, tuple[str, ...]] = {
    "reduced": ("psnr", "psnr_bands", "ssim", "sam", "ergas", "q", "q2n", "scc", "cc", "rmse"),
    "full": ("d_lambda", "d_s", "qnr", "d_lambda_khan", "hqnr"),
}

#: The indices ``gdd bench`` compares methods by, per protocol, in table order.
BENCH_COLUMNS: dict[str, tuple[str, ...]] = {
    "reduced": ("psnr", "sam", "ergas", "q2n", "q", "ssim"),
    "full": ("d_lambda", "d_s", "qnr", "hqnr"),
}

#: Decimals of a value in the fixed-point tables, per key (4 for any other): dB and seconds
#: need fewer, degrees and ERGAS (a percentage) three.
DECIMALS: dict[str, int] = {"psnr": 2, "psnr_bands": 2, "seconds": 2, "sam": 3, "ergas": 3}


def label(key: str, *, unicode: bool = False) -> str:
    """How a table names the index ``key``; with ``unicode`` (HTML) lambda is written λ.

    Example:
        >>> label("d_lambda_khan"), label("d_lambda_khan", unicode=True)
        ('D_lambda^K', 'D_λ^K')
    """
    text = LABELS[key]
    return text.replace("D_lambda", "D_λ") if unicode else text


def metric_key(name: str) -> str:
    """The key of an index from a name as a person writes it (any case, spaces, dashes, λ).

    Example:
        >>> metric_key("D-λ"), metric_key(" Q2n ")
        ('d_lambda', 'q2n')
    """
    return name.strip().lower().replace("-", "_").replace(" ", "_").replace("λ", "lambda")


def by_direction(keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """The known ``keys`` where higher is better and those where lower is, in their order (others left out).

    Example:
        >>> by_direction(["psnr", "sam", "other", "q"])
        (['psnr', 'q'], ['sam'])
    """
    keys = list(keys)
    higher = [k for k in keys if HIGHER_IS_BETTER.get(k) is True]
    lower = [k for k in keys if HIGHER_IS_BETTER.get(k) is False]
    return higher, lower


def format_value(value: object, key: str = "", *, significant: bool = False) -> str:
    """A value for a table: 'n/a' for None or NaN, else fixed decimals per ``key`` or four significant digits.

    Fixed (the text, Markdown and CSV tables of ``gdd eval`` and ``gdd bench``): the
    :data:`DECIMALS` of ``key`` (4 by default); any infinity is 'inf'; anything that is no
    number is 'n/a'. ``significant`` (the HTML report, whose values may be anything a caller
    passes): four significant digits, none after the point from 1e4 on; integers, booleans and
    text as they are; infinities signed.

    Example:
        >>> [format_value(v, "sam") for v in (None, float("nan"), 1.23456, float("-inf"), 2)]
        ['n/a', 'n/a', '1.235', 'inf', '2.000']
        >>> [format_value(v, significant=True) for v in (None, float("nan"), 31.41592, 0.000123456, 12345.6, 3)]
        ['n/a', 'n/a', '31.42', '0.0001235', '12346', '3']
    """
    if value is None:
        return "n/a"
    if significant and isinstance(value, (bool, str, numbers.Integral)):
        return str(value)
    if not isinstance(value, numbers.Real):
        return str(value) if significant else "n/a"
    if math.isnan(value):
        return "n/a"
    if not significant:
        return "inf" if math.isinf(value) else f"{value:.{DECIMALS.get(key, 4)}f}"
    f = float(value)
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f"{f:.0f}" if abs(f) >= 1e4 else f"{f:.4g}"
