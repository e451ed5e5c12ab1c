"""The benchmark scripts import what their sibling scripts define (they run for minutes before using it)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The scripts' folder first on the path for the test only; the scripts' modules gone after it."""
    monkeypatch.setattr(sys, "path", [str(BENCHMARKS), *sys.path])
    yield
    for name in [n for n in sys.modules if n in SCRIPTS or n.startswith("_benchmarks_")]:
        del sys.modules[name]


def _sibling_imports(source: str) -> list[tuple[str, str]]:
    """Every ``from <sibling> import name`` of a script's source, at any depth (most sit inside ``main``)."""
    tree = ast.parse(source)
    return [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module in SCRIPTS and node.level == 0
        for alias in node.names
    ]


def _missing(source: str) -> list[str]:
    """The names a script's source imports from its siblings that they do not define."""
    loaded: dict[str, ModuleType] = {}
    return [f"{m}.{n}" for m, n in _sibling_imports(source) if not hasattr(_load(m, loaded), n)]


def _source(script: str) -> str:
    return (BENCHMARKS / f"{script}.py").read_text()


def _load(script: str, loaded: dict[str, ModuleType]) -> ModuleType:
    if script not in loaded:
        spec = importlib.util.spec_from_file_location(f"_benchmarks_{script}", BENCHMARKS / f"{script}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        loaded[script] = module
    return loaded[script]


@pytest.mark.parametrize("script", [s for s in SCRIPTS if _sibling_imports(_source(s))])
def test_a_benchmark_imports_names_its_siblings_define(script: str) -> None:
    missing = _missing(_source(script))
    assert not missing, f"benchmarks/{script}.py imports names its siblings do not define: {missing}"


def test_the_check_sees_a_name_a_sibling_lacks() -> None:
    source = "def main():\n    from provenance import commit, _commit\n    from gdd import solve\n"
    assert _missing(source) == ["provenance._commit"]


@pytest.mark.parametrize("script", [s for s in SCRIPTS if "def main(" in _source(s)])
def test_a_benchmark_prints_its_help(
    script: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its module imports and its arguments are declared (``--help`` runs nothing else)."""
    monkeypatch.setattr(sys, "argv", [f"{script}.py", "--help"])
    module = _load(script, {})
    with pytest.raises(SystemExit) as done:
        module.main()
    assert done.value.code == 0
    assert "usage:" in capsys.readouterr().out
