"""The argparse parser, built from the option table (:mod:`gdd.cli.options`)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from .. import __version__
from .options import COMMANDS, FUSION_TASKS, GROUPS

__all__ = ["build_parser", "join_negative_values"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line and exit code 2, as argparse does, without the usage block.
        words = self.prog.split()
        where = f"gdd {words[-1]}" if len(words) > 1 else "gdd"
        self.exit(2, f"gdd: error: {message} (see {where} --help)\n")

    def parse_args(self, args: Sequence[str] | None = None, namespace: None = None) -> argparse.Namespace:  # type: ignore[override]
        # An unknown option is found by the top parser: the help to see is the command's.
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            where = f"gdd {command}" if command else "gdd"
            self.exit(2, f"gdd: error: unrecognized arguments: {' '.join(extras)} (see {where} --help)\n")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The ``gdd`` parser: one sub-command per entry of :data:`gdd.cli.options.COMMANDS`."""
    parser = _Parser(prog="gdd", description="Guided Deep Decoder: unsupervised fusion of image pairs.")
    parser.add_argument("--version", action="version", version=f"gdd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.description)
        groups: dict[str, argparse._ArgumentGroup] = {}
        if name in FUSION_TASKS:
            groups = {g: p.add_argument_group(f"{g}", text) for g, text in GROUPS.items()}
        for option in command.options:
            target = groups.get(option.group or "", p)
            target.add_argument(*option.flags, **option.kwargs)
    return parser


#: A value that starts with a minus and a digit: a negative number or list (``-1,2``, ``-.5``).
_NEGATIVE = re.compile(r"^-\.?\d")


def join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--shift -1,2`` as ``--shift=-1,2``: argparse takes a value like ``-1,2`` for an option.

    Only a plain negative number (``-1``) is read as a value by argparse; a list such as
    ``-1,2`` would be an unknown option, and the option before it would miss its value.
    """
    out: list[str] = []
    for arg in argv:
        if out and _NEGATIVE.match(arg) and out[-1].startswith("--") and "=" not in out[-1] and out[-1] != "--":
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out
