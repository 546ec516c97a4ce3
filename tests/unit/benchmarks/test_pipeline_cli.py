"""``python -m benchmarks.pipeline``: its options, imported the standard way."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks import ROOT
from benchmarks.pipeline import parse_args

pytestmark = pytest.mark.unit


def test_pipeline_parses_the_benchmark_options() -> None:
    args = parse_args(["--rows", "2000", "--profile", "route", "--out", "x"])
    assert (args.rows, args.profile, args.out) == (2000, "route", Path("x"))
    assert args.concurrency == "1,4,16"


def test_the_package_root_is_the_checkout() -> None:
    assert (ROOT / "benchmarks" / "pipeline.py").is_file()
