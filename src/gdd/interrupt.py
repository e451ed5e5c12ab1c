"""SIGTERM (a scheduler's time limit, ``kill``) ends a run as Ctrl-C does: its clean-up runs."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

__all__ = ["Terminated", "sigterm_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be: the same clean-up, exit code 143."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the block, so that half-written files are removed as on Ctrl-C."""

    def interrupt(signum: int, frame: object) -> None:
        raise Terminated

    try:
        before = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave the handler alone
        yield
        return
    try:
        yield
    finally:  # None: a handler not set from Python (an embedding program's), which the default stands for
        signal.signal(signal.SIGTERM, signal.SIG_DFL if before is None else before)
