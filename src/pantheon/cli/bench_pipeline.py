"""``pantheon bench pipeline``: the pipeline benchmark (``benchmarks/pipeline.py``).

The benchmark drives real processes and private services, so it lives beside the package
in the source checkout (``benchmarks/``), not inside it; this command finds that folder
from the installed (editable) package and runs it. ``make bench`` calls it. Its arguments
(the benchmark's own options) are added in :mod:`pantheon.cli.bench_args`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

from pantheon.config import Settings
from pantheon.errors import ConfigurationError


def checkout_root() -> Path:
    """The source checkout this package runs from (``src/pantheon`` → two levels up)."""
    return Path(__file__).resolve().parents[3]


def benchmark_module() -> ModuleType | None:
    """``benchmarks.pipeline`` of the checkout, or None outside one."""
    root = checkout_root()
    if not (root / "benchmarks" / "pipeline.py").is_file():
        return None
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("benchmarks.pipeline")


def run_pipeline(args: argparse.Namespace, settings: Settings) -> int:
    module = benchmark_module()
    if module is None:
        raise ConfigurationError(
            f"the pipeline benchmark needs the source checkout (no benchmarks/pipeline.py "
            f"under {checkout_root()}); run it from a clone of the repository"
        )
    return int(module.run_and_print(args))
