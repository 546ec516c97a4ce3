from __future__ import annotations

import argparse

import pytest

from pantheon.cli import resolve_runner, services, services_args

pytestmark = pytest.mark.unit


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    services_args.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_worker_options() -> None:
    args = _parse("worker", "--queues", "training_slow", "-c", "3", "--loglevel", "debug")
    assert resolve_runner(args.runner) is services.run_worker
    assert (args.queues, args.concurrency, args.loglevel) == ("training_slow", 3, "debug")
    defaults = _parse("worker")
    assert (defaults.queues, defaults.concurrency) == (None, None)


def test_serve_up_and_beat() -> None:
    assert _parse("serve", "--port", "9000").port == 9000
    assert _parse("serve").port is None  # falls back to $PORT through Settings
    assert resolve_runner(_parse("up").runner) is services.run_up
    assert resolve_runner(_parse("beat").runner) is services.run_beat


def test_worker_names_say_what_they_consume() -> None:
    name = services.worker_name(["training_fast", "training_slow"])
    assert name.startswith("pantheon-fast-slow-")
    assert name.endswith("@%h")


def test_bind_prefers_flags_then_settings(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(port=8123, host="0.0.0.0")
    assert services._bind(_parse("serve"), settings) == ("0.0.0.0", 8123)
    assert services._bind(_parse("serve", "--host", "::1", "--port", "1"), settings) == ("::1", 1)
