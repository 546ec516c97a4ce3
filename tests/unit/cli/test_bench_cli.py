"""``pantheon bench``: one parser, one sub-command per benchmark module."""

from __future__ import annotations

import argparse
import sys
import types

import pytest

from pantheon.cli import bench, build_parser

pytestmark = pytest.mark.unit

ROUTING = ["bench", "routing", "--train", "a.jsonl", "--test", "b.jsonl"]


def test_routing_parses_its_arguments() -> None:
    args = build_parser().parse_args([*ROUTING, "--strong", "s", "--weak", "w", "--json"])
    assert args.benchmark == "routing"
    assert args.func is bench.run_routing
    assert (args.strong, args.weak, args.json) == ("s", "w", True)


def test_routing_needs_both_gods() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(ROUTING)


def test_sibling_benchmarks_register_beside_routing(monkeypatch: pytest.MonkeyPatch) -> None:
    sibling = types.ModuleType("pantheon_test_sibling_bench")

    def register_bench(benchmarks: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        benchmarks.add_parser("sibling").set_defaults(func=lambda a, s: 0)

    sibling.register_bench = register_bench  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, sibling.__name__, sibling)
    monkeypatch.setattr(bench, "BENCH_MODULES", (sibling.__name__, "pantheon.no_such_bench"))
    parser = argparse.ArgumentParser()
    bench.register(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["bench", "sibling"]).benchmark == "sibling"
    routing = parser.parse_args([*ROUTING, "--strong", "s", "--weak", "w"])
    assert routing.benchmark == "routing"
