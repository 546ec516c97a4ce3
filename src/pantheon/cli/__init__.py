"""The ``pantheon`` command line: one sub-command module per area.

Each module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``; it adds its
sub-commands with ``set_defaults(func=...)``, where ``func(args, settings) -> int``. A
command that runs a service or writes to a deployment also sets ``production_role`` (a
:class:`~pantheon.config.Role`): :func:`main` runs the production check for it before the
command touches anything.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pantheon import __version__
from pantheon.config import Role, Settings
from pantheon.errors import PantheonError
from pantheon.logs import configure_logging

COMMAND_MODULES: tuple[str, ...] = (
    "pantheon.cli.db",
    "pantheon.cli.services",
    "pantheon.cli.data",
    "pantheon.cli.demo",
    "pantheon.cli.bench",
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError: say which variable is wrong
        print(f"pantheon: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings, args.log_level)
    try:
        role: Role | None = getattr(args, "production_role", None)
        if role is not None:
            settings.require_safe_for_production(role)
        return int(args.func(args, settings))
    except PantheonError as exc:
        print(f"pantheon: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
