"""The shape of the package: layers import one way, modules stay small, the parser starts without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import gdd

SRC = Path(gdd.__file__).resolve().parent


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """The gdd modules a module imports when it is imported (not inside functions or TYPE_CHECKING)."""
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("gdd"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gdd"))
    return found


def test_no_import_circle() -> None:
    modules = {_module(p): p for p in SRC.rglob("*.py")}
    # A module's own packages are initialised before it in any case: not edges.
    graph = {
        m: {t for t in _top_level_imports(p) if t in modules and t != m and not m.startswith(t + ".")}
        for m, p in modules.items()
    }
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        if m in path:
            cycle = [*path[path.index(m) :], m]
            # A package's __init__ re-exporting its own modules is not a circle.
            if not all(c.startswith(cycle[0] + ".") or c == cycle[0] for c in cycle):
                raise AssertionError("import circle: " + " -> ".join(cycle))
            return
        if m in done:
            return
        for t in graph[m]:
            visit(t, [*path, m])
        done.add(m)

    for m in graph:
        visit(m, [])


def test_modules_stay_small() -> None:
    # About 400 lines each (STYLE.md): a module that grows past that becomes a package.
    sizes = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > 450} == {}


def test_no_argparse_below_the_command_line() -> None:
    users = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "import argparse" in p.read_text()]
    assert all(u.startswith("cli") for u in users), users


def test_help_imports_neither_torch_nor_scipy() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from gdd.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['--help']) == 0 and main(['pan', '--help']) == 0\n"
        "print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_option_table_knows_the_sensors_and_the_pan_default() -> None:
    from gdd.cli.options import COMMANDS
    from gdd.problems import PAN_SPATIAL
    from gdd.sensors import SENSORS

    spatial = next(o for o in COMMANDS["pan"].options if o.dest == "spatial")
    assert spatial.kwargs["default"] == PAN_SPATIAL
    assert f"default {PAN_SPATIAL}" in spatial.kwargs["help"]
    sensor = next(o for o in COMMANDS["pan"].options if o.dest == "sensor")
    assert sensor.kwargs["choices"] == list(SENSORS)


def test_every_file_option_is_resolved_by_a_batch() -> None:
    from gdd.batch import PATH_OPTIONS
    from gdd.cli.options import COMMANDS, FUSION_TASKS

    files = {"hsi", "guide", "srf", "blur", "ms", "pan", "noisy", "out", "json", "report", "reference"}
    assert files == PATH_OPTIONS
    every = {o.dest for t in FUSION_TASKS for o in COMMANDS[t].options}
    assert PATH_OPTIONS <= every


def test_the_memory_model_reads_the_widths_of_the_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    from gdd.app import estimate_memory
    from gdd.problems import PRESETS

    narrow = estimate_memory("pan", 256, 256, budget="cpu", channels=8)
    assert estimate_memory("pan", 256, 256, budget="cpu") > narrow
    monkeypatch.setitem(PRESETS, ("pan", "cpu"), replace(PRESETS[("pan", "cpu")], width=8))
    assert estimate_memory("pan", 256, 256, budget="cpu") == narrow


def test_bench_help_names_every_method_of_the_bench() -> None:
    from gdd.bench import method_names
    from gdd.cli.options import BENCH_METHODS

    assert sorted(m for group in BENCH_METHODS.values() for m in group) == sorted(method_names())


def test_the_public_names_are_listed_before_their_first_use() -> None:
    """``dir(gdd)`` (tab completion) shows what ``gdd.__all__`` exports, though it is imported lazily."""
    assert set(gdd.__all__) <= set(dir(gdd))
