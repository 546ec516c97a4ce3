"""``pantheon bench``: routing and online share one definition of their split."""

from __future__ import annotations

import pytest

from pantheon.cli import bench, build_parser, resolve_runner

pytestmark = pytest.mark.unit

ROUTING = ["bench", "routing", "--train", "a.jsonl", "--test", "b.jsonl"]
ONLINE = ["bench", "online", "--train", "a.jsonl", "--test", "b.jsonl"]


def test_routing_parses_its_arguments() -> None:
    args = build_parser().parse_args([*ROUTING, "--strong", "s", "--weak", "w", "--json"])
    assert args.benchmark == "routing"
    assert resolve_runner(args.runner) is bench.run_routing
    assert (args.strong, args.weak, args.json) == ("s", "w", True)


def test_online_parses_the_split_and_its_own_options() -> None:
    args = build_parser().parse_args([*ONLINE, "--strong", "s", "--weak", "w", "--every", "50"])
    assert resolve_runner(args.runner) is bench.run_online
    assert (str(args.train), args.strong, args.weak, args.json) == ("a.jsonl", "s", "w", False)
    assert (args.every, args.hours, args.limit, args.chunk) == (50, 24, None, 32)


@pytest.mark.parametrize("command", [ROUTING, ONLINE])
def test_a_benchmark_needs_both_gods(command: list[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(command)


def test_the_pipeline_benchmark_is_not_a_command_of_the_package() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "pipeline"])
