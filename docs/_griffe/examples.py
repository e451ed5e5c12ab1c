"""Docs build helper: read the package's ``Example:`` docstring sections as examples.

Griffe's Google-style parser knows the section as ``Examples:``; under the singular title it
would render the doctests as plain Markdown. The docstrings themselves are left as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
