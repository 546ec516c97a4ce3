"""``pantheon bench pipeline``: found from the checkout, options of benchmarks/pipeline.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantheon.cli import bench_pipeline, build_parser, resolve_runner

pytestmark = pytest.mark.unit


def test_pipeline_parses_the_benchmark_options() -> None:
    args = build_parser().parse_args(
        ["bench", "pipeline", "--rows", "2000", "--profile", "route", "--out", "x"]
    )
    assert resolve_runner(args.runner) is bench_pipeline.run_pipeline
    assert (args.rows, args.profile, args.out) == (2000, "route", Path("x"))
    assert args.concurrency == "1,4,16"


def test_checkout_root_holds_the_benchmark() -> None:
    assert (bench_pipeline.checkout_root() / "benchmarks" / "pipeline.py").is_file()


def test_outside_a_checkout_it_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pantheon.config import Settings
    from pantheon.errors import ConfigurationError

    monkeypatch.setattr(bench_pipeline, "checkout_root", lambda: tmp_path)
    args = build_parser().parse_args(["bench", "pipeline"])
    with pytest.raises(ConfigurationError, match="source checkout"):
        bench_pipeline.run_pipeline(args, Settings())
