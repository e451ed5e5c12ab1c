"""What a ``gdd bench`` folder records of its run: the settings its rows were made with.

A resumed run adds rows to the table; rows made with other settings (another number of
steps, seed, preset or device) would sit beside them in one table as if comparable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from .io import InputError, atomic

__all__ = ["keep_settings"]


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
