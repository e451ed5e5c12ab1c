"""The Markdown and CSV tables of benchmark rows (``gdd bench``): one section per case, best values in bold."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .labels import BENCH_COLUMNS, HIGHER_IS_BETTER, LABELS, format_value

__all__ = ["tables"]


def tables(rows: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """The Markdown and CSV tables of a list of rows, one section per case; best values in bold."""
    md: list[str] = []
    every = (*BENCH_COLUMNS["reduced"], *BENCH_COLUMNS["full"])
    csv_lines = [",".join(["case", "method", "protocol", "seconds", *every])]
    for case in dict.fromkeys(r["case"] for r in rows):
        case_rows = [r for r in rows if r["case"] == case]
        protocol = case_rows[0]["protocol"]
        cols = BENCH_COLUMNS[protocol]
        best = {}
        for key in cols:
            vals = [r["metrics"].get(key) for r in case_rows]
            vals = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
            if vals:
                best[key] = max(vals) if HIGHER_IS_BETTER[key] else min(vals)
        kind = "reduced resolution, against the reference" if protocol == "reduced" else "full resolution, no reference"
        md.append(f"**{case}** ({kind})\n")
        md.append("| method | " + " | ".join(LABELS[key] for key in cols) + " | seconds |")
        md.append("|---|" + "---:|" * (len(cols) + 1))
        for r in case_rows:
            cells = []
            for key in cols:
                v = r["metrics"].get(key)
                text = format_value(v, key)
                cells.append(f"**{text}**" if key in best and v == best[key] else text)
            md.append(f"| {r['label']} | " + " | ".join(cells) + f" | {format_value(r['seconds'], 'seconds')} |")
        md.append("")
        for r in case_rows:
            m = r["metrics"]
            values = [m.get(k) for k in every]
            csv_lines.append(
                ",".join(
                    [
                        case,
                        r["method"],
                        protocol,
                        f"{r['seconds']:.3f}",
                        *("" if v is None else repr(v) for v in values),
                    ]
                )
            )
    return "\n".join(md), "\n".join(csv_lines) + "\n"
