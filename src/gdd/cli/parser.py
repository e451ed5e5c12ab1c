"""The argparse parser, built from the option table (:mod:`gdd.cli.options`)."""

from __future__ import annotations

import argparse

from .. import __version__
from .options import COMMANDS, FUSION_TASKS, GROUPS

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line and exit code 2, as argparse does, without the usage block.
        words = self.prog.split()
        where = f"gdd {words[-1]}" if len(words) > 1 else "gdd"
        self.exit(2, f"gdd: error: {message} (see {where} --help)\n")


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
