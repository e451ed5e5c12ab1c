"""``python -m gdd``."""

from .cli import main_entry

main_entry()
