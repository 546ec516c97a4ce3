"""``pantheon bench pipeline``: the pipeline benchmark (``benchmarks/pipeline.py``).

The benchmark drives real processes and private services, so it lives beside the package
in the source checkout (``benchmarks/``), not inside it; this command finds that folder
from the installed (editable) package and runs it. ``make bench`` calls it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from pantheon.config import Settings
from pantheon.errors import ConfigurationError


def checkout_root() -> Path:
    """The source checkout this package runs from (``src/pantheon`` → two levels up)."""
    return Path(__file__).resolve().parents[3]


def _benchmark_module() -> ModuleType | None:
    root = checkout_root()
    if not (root / "benchmarks" / "pipeline.py").is_file():
        return None
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("benchmarks.pipeline")


def register_bench(benchmarks: Any) -> None:
    pipeline = benchmarks.add_parser(
        "pipeline",
        help="throughput, latency, freshness and memory of the real services, with baselines",
        description="Start a private Redis, a fresh PostgreSQL database, the web service, one "
        "worker and Beat; measure intake, online training, freshness, hourly batch, "
        "consolidation scaling, routing and memory beside same-run baselines; write "
        "bench-results/ and print the table with each target.",
    )
    try:
        module = _benchmark_module()
    except ImportError:
        module = None
    if module is not None:
        module.add_arguments(pipeline)
    pipeline.set_defaults(func=run_pipeline)


def run_pipeline(args: argparse.Namespace, settings: Settings) -> int:
    module = _benchmark_module()
    if module is None:
        raise ConfigurationError(
            f"the pipeline benchmark needs the source checkout (no benchmarks/pipeline.py "
            f"under {checkout_root()}); run it from a clone of the repository"
        )
    return int(module.run_and_print(args))
