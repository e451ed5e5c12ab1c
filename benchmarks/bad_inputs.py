"""What gdd says to malformed inputs: every case of tests/test_bad_inputs.py as a Markdown table.

    python benchmarks/bad_inputs.py [--out benchmarks/results/bad-inputs.md]

Each case runs ``gdd.cli.main`` in-process in a fresh temporary folder (as the test does); the
table gives what the user gave, the exit code, the line gdd printed (temporary paths shortened to
file names) and whether any file was written or changed. Cases marked as known defects in the
test, and any other that misses the standard, are listed below the table. Never run by pytest.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from test_bad_inputs import CASES, Case, Outcome, run_case  # noqa: E402

import gdd  # noqa: E402

RESULTS = HERE / "results" / "bad-inputs.md"


def _commit() -> str:
    from provenance import commit

    return commit(short=True)


def _short(text: str, folder: Path) -> str:
    """The text with the temporary folder's paths shortened to the names inside it."""
    for prefix in {str(folder.resolve()), str(folder)}:
        text = text.replace(prefix + "/", "").replace(prefix, ".")
    return text


def _said(o: Outcome, folder: Path) -> str:
    lines = o.stderr.splitlines()
    if o.crash:
        lines.append(f"Traceback (most recent call last): ... {o.crash}")
    lines += o.warnings
    return _short(" / ".join(lines) or "(nothing)", folder)


def _written(o: Outcome) -> str:
    if not o.new and not o.changed:
        return "no"
    parts = [*o.new, *(f"{p} (changed)" for p in o.changed)]
    return "yes: " + ", ".join(parts)


def _misses(case: Case, o: Outcome) -> list[str]:
    """How the outcome misses the standard (empty when it meets it)."""
    lines = o.stderr.splitlines()
    problems = []
    if o.crash:
        problems.append("traceback")
    if o.warnings:
        problems.append("warnings")
    if len(lines) != 1 or not lines[0].startswith("gdd: error: "):
        problems.append(f"{len(lines)} stderr lines")
    elif case.message not in lines[0]:
        problems.append(f"message lacks {case.message!r}")
    if o.code != case.code:
        problems.append(f"exit {o.code}, expected {case.code}")
    if o.new or o.changed:
        problems.append("files written")
    return problems


def _cell(text: str, code: bool = False) -> str:
    text = text.replace("|", "\\|")
    if not code:
        return text
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def table() -> tuple[str, list[str]]:
    rows = ["| # | what the user gave | exit code | what gdd said | output written? |", "|---|---|---|---|---|"]
    notes = []
    for i, case in enumerate(CASES, 1):
        with tempfile.TemporaryDirectory(prefix="gdd-bad-") as tmp:
            folder = Path(tmp)
            o = run_case(case, folder)
            said = _said(o, folder)
        code = "-" if o.code is None else str(o.code)
        rows.append(f"| {i} | {_cell(case.what)} | {code} | {_cell(said, code=True)} | {_cell(_written(o))} |")
        misses = _misses(case, o)
        if misses or case.xfail:
            why = "; ".join(misses) or "meets the standard now: remove its xfail mark"
            known = f" Known defect: {case.xfail}." if case.xfail else ""
            notes.append(f"- #{i} `{case.id}` ({case.what}): {why}.{known}")
    return "\n".join(rows), notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"Markdown file (default {RESULTS.name})")
    args = parser.parse_args()
    rows, notes = table()
    text = "\n".join(
        [
            "# What gdd says to malformed inputs",
            "",
            f"gdd {gdd.__version__}, commit {_commit()}, {datetime.date.today().isoformat()}; "
            f"the cases of tests/test_bad_inputs.py ({len(CASES)}), run by benchmarks/bad_inputs.py.",
            "Standard: one `gdd: error:` line naming the file and the problem, exit 1 for bad data and "
            "2 for bad usage, no traceback, nothing written or overwritten.",
            "",
            rows,
            "",
            "## Cases that miss the standard",
            "",
            *(notes or ["None."]),
            "",
        ]
    )
    leaked = [p for p in ("/tmp", "/work", str(Path.home()), tempfile.gettempdir()) if p in text]
    if leaked:
        raise SystemExit(f"the table still holds paths of this machine: {', '.join(leaked)}")
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out.relative_to(Path.cwd()) if args.out.is_relative_to(Path.cwd()) else args.out}")


if __name__ == "__main__":
    main()
