"""``pantheon bench``: one parser, one sub-command per benchmark."""

from __future__ import annotations

import pytest

from pantheon.cli import bench, build_parser, resolve_runner

pytestmark = pytest.mark.unit

ROUTING = ["bench", "routing", "--train", "a.jsonl", "--test", "b.jsonl"]


def test_routing_parses_its_arguments() -> None:
    args = build_parser().parse_args([*ROUTING, "--strong", "s", "--weak", "w", "--json"])
    assert args.benchmark == "routing"
    assert resolve_runner(args.runner) is bench.run_routing
    assert (args.strong, args.weak, args.json) == ("s", "w", True)


def test_routing_needs_both_gods() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(ROUTING)
