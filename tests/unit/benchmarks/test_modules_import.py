"""Every module of ``benchmarks/`` imports: the benchmarks are not type-checked with the
package (mypy reads ``src/pantheon``), so a renamed product module would otherwise go
unnoticed until someone runs the benchmark that names it."""

from __future__ import annotations

import importlib

import pytest
from benchmarks import ROOT

pytestmark = pytest.mark.unit

MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for path in (ROOT / "benchmarks").rglob("*.py")
    if path.name != "__init__.py"
)


def test_the_benchmarks_are_found() -> None:
    assert "benchmarks.pipeline" in MODULES
    assert "benchmarks.scenarios.broker" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports(module: str) -> None:
    importlib.import_module(module)
