"""The ``pantheon`` command line: per area, an arguments module and a run module.

Each module in :data:`COMMAND_MODULES` (``<area>_args``) exposes ``register(subparsers)``;
it adds its sub-commands with ``set_defaults(runner="pantheon.cli.<area>:<function>")``,
where ``function(args, settings) -> int`` lives in the area's run module. The arguments
modules import argparse and light pantheon modules only, and :func:`main` imports the run
module of the one command chosen, after parsing: the run modules import the web app,
Celery, the store and the engine at their top, and ``pantheon --help`` or ``pantheon db
upgrade`` has no use for most of them. A command that runs a service or writes to a
deployment also sets ``production_role`` (a :class:`~pantheon.config.Role`): :func:`main`
runs the production check for it before the command touches anything.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import cast

import pydantic
from sqlalchemy import exc as sa_exc

from pantheon import __version__
from pantheon.config import Role, Settings, parse_log_level
from pantheon.errors import ConfigurationError, PantheonError
from pantheon.logs import configure_logging

COMMAND_MODULES: tuple[str, ...] = (
    "pantheon.cli.db_args",
    "pantheon.cli.services_args",
    "pantheon.cli.data_args",
    "pantheon.cli.demo_args",
    "pantheon.cli.bench_args",
    "pantheon.cli.decisions_args",
)

#: What a command runs once its arguments are parsed and the settings are checked.
Runner = Callable[[argparse.Namespace, Settings], int]

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


def resolve_runner(spec: str) -> Runner:
    """The function ``"package.module:function"`` names, importing only its module."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"a runner is named as 'module:function', not {spec!r}")
    runner = getattr(importlib.import_module(module_name), attribute)
    if not callable(runner):
        raise TypeError(f"{spec} is not callable")
    return cast(Runner, runner)


def _settings_problem(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        parts.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def exit_for(exc: BaseException) -> tuple[int, str]:
    """The one mapping from an error that ends a command to (exit status, stderr line).

    Every command goes through it, so a bad setting, an unreadable file or an unreachable
    service ends in one line and a non-zero status, never a traceback (that goes to the
    log at DEBUG).
    """
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    if isinstance(exc, pydantic.ValidationError):
        return 2, f"invalid configuration: {_settings_problem(exc)}"
    if isinstance(exc, ConfigurationError):
        return 2, exc.message
    if isinstance(exc, PantheonError):
        return 1, exc.message
    if isinstance(exc, ValueError) and str(exc).startswith("PANTHEON_LOG_LEVEL"):
        return 2, f"invalid --log-level: {exc}"
    if isinstance(exc, sa_exc.DBAPIError):
        first = str(exc.orig or exc).strip().splitlines()[:1]
        return 1, f"cannot use the database (DATABASE_URL): {first[0] if first else exc}"
    if isinstance(exc, sa_exc.ArgumentError):
        return 2, f"invalid DATABASE_URL: {exc}"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return 1, f"{exc.strerror or type(exc).__name__}{where}"
    return 1, f"unexpected error: {type(exc).__name__}: {exc} (--log-level DEBUG for details)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
        if args.log_level is not None:
            parse_log_level(args.log_level)  # a bad --log-level is one clear line too
        configure_logging(settings, args.log_level)
        floor: int | None = getattr(args, "log_floor", None)
        if floor is not None and args.log_level is None:
            # Before the runner's module is imported: some libraries log at import time.
            root = logging.getLogger()
            root.setLevel(max(root.level, floor))
        role: Role | None = getattr(args, "production_role", None)
        if role is not None:
            settings.require_safe_for_production(role)
        run = resolve_runner(args.runner)
        return int(run(args, settings))
    except (Exception, KeyboardInterrupt) as exc:
        status, line = exit_for(exc)
        log.debug("pantheon %s failed", args.command, exc_info=exc)
        print(f"pantheon: {line}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
