"""The ``pantheon`` command line: one sub-command module per area.

Each module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``; it adds its
sub-commands with ``set_defaults(func=...)``, where ``func(args, settings) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pantheon import __version__
from pantheon.config import Settings
from pantheon.errors import PantheonError

COMMAND_MODULES: tuple[str, ...] = (
    "pantheon.cli.db",
    "pantheon.cli.services",
    "pantheon.cli.data",
    "pantheon.cli.demo",
    "pantheon.cli.bench",
    "pantheon.cli.decisions",
)

log = logging.getLogger("pantheon.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pantheon",
        description="Pantheon: learn from chat outcomes which god answers a prompt best.",
    )
    parser.add_argument("--version", action="version", version=f"pantheon {__version__}")
    parser.add_argument("--log-level", default=None, help="override PANTHEON_LOG_LEVEL")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError: say which variable is wrong
        print(f"pantheon: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(args.log_level or settings.log_level)
    try:
        return int(args.func(args, settings))
    except PantheonError as exc:
        print(f"pantheon: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
