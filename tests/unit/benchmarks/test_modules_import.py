"""Every module of ``benchmarks/`` imports. The benchmarks run rarely (``make bench``,
``make reliability``), so a module that no longer imports would otherwise surface only
then; mypy checks the names they import, this also runs their module-level code."""

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
