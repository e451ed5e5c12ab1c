"""What a ``gdd bench`` folder holds besides its rows: the settings they were made with, its cases.

A resumed run adds rows to the table; rows made with other settings (another number of
steps, seed, preset or device) would sit beside them in one table as if comparable. A reference
image given as a case is simulated into a case folder of the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from .io import InputError, UsageError, atomic

__all__ = ["as_cases", "keep_settings"]


def keep_settings(folder: Path, *, resumed: bool, device: str, **given: object) -> None:
    """Record the run's settings (``device`` as the kind it resolves to) in ``folder/run.json``.

    Raises:
        InputError: a resumed run whose settings differ from those its rows were made with.
    """
    from .fusion import resolve_device

    settings: Mapping[str, object] = {**given, "device": resolve_device(device).type}
    path = folder / "run.json"
    if resumed and path.exists():
        try:
            before = json.loads(path.read_text())
        except (OSError, ValueError):
            before = {}
        differ = [f"{k} {before.get(k)!r} (now {v!r})" for k, v in settings.items() if k in before and before[k] != v]
        if differ:
            raise InputError(
                f"{folder} holds rows made with {', '.join(differ)}; resume with the same settings, "
                "or use --force to start again"
            )
    text = json.dumps(settings, sort_keys=True) + "\n"
    atomic(path, lambda t: t.write_text(text))


def _path(spec: str) -> Path:
    return Path(str(spec).split(":")[0]) if ":" in str(spec)[2:] else Path(spec)


def _is_case(p: Path) -> bool:
    return (p.is_dir() and (p / "case.json").is_file()) or p.suffix.lower() == ".json"


def as_cases(specs: Sequence[str], out: Path, *, srf: str | None, factor: int | None) -> list[str]:
    """Case folders as they are, references simulated into ones in ``out/cases`` (with ``srf`` and ``factor``).

    Raises:
        UsageError: ``srf`` or ``factor`` where every case is a case folder (they would not be used),
            a reference without them.
    """
    unused = [opt for opt, v in (("--srf", srf), ("--factor", factor)) if v is not None]
    if unused and all(_is_case(_path(c)) for c in specs):
        raise UsageError(f"{' and '.join(unused)} simulate a case from a reference image; a case folder holds its own")
    return [_as_case(c, out, srf=srf, factor=factor) for c in specs]


def _as_case(path: str, out: Path, *, srf: str | None, factor: int | None) -> str:
    """A case folder as it is, or a reference simulated into one (needs ``srf`` and ``factor``)."""
    p = _path(path)
    if _is_case(p) or not p.exists():  # a missing one: load_case says what is missing
        return path
    if srf is None or factor is None:
        raise UsageError(f"{path} is no case folder; give --srf and --factor to simulate one from it")
    from .simulate import run_simulate

    target = out / "cases" / p.stem
    # Simulated again every time (a few seconds): a case left by an earlier run with another
    # --srf or --factor is never reused by mistake.
    return str(run_simulate(reference=path, out=str(target), factor=factor, srf=srf, force=True))
