"""``pantheon db upgrade|downgrade|current|recoordize``: schema migrations, and stored
basins and kernels brought to the running coordizer (``training.representation``)."""

from __future__ import annotations

import argparse

from rich.console import Console

from pantheon.cli.progress import step_progress
from pantheon.config import Role, Settings
from pantheon.store import migrate
from pantheon.training import representation
from pantheon.training.service import TrainingService


def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    before = migrate.current(settings)
    migrate.upgrade(settings, args.revision)
    after = migrate.current(settings)
    if before == after:
        print(f"database already at {after or 'base'}")
    else:
        print(f"database upgraded {before or 'base'} -> {after or 'base'}")
    return 0


def _downgrade(args: argparse.Namespace, settings: Settings) -> int:
    before = migrate.current(settings)
    migrate.downgrade(settings, args.revision)
    print(f"database downgraded {before or 'base'} -> {migrate.current(settings) or 'base'}")
    return 0


def _current(_args: argparse.Namespace, settings: Settings) -> int:
    rev = migrate.current(settings)
    head = migrate.head_revision()
    state = "up to date" if rev == head else f"behind head {head}"
    print(f"{rev or 'base (empty)'} ({state})")
    return 0


def _recoordize(_args: argparse.Namespace, settings: Settings) -> int:
    rev = migrate.current(settings)
    if rev != migrate.head_revision():
        print(
            f"database at {rev or 'base'}, not {migrate.head_revision()}: run `pantheon db upgrade`"
        )
        return 2
    service = TrainingService(settings)
    with step_progress(Console(stderr=True), label_width=8) as progress:
        result = representation.recoordize(service, progress)
    rebuilt = ", ".join(result.kernels_rebuilt) or "none"
    print(
        f"coordizer {result.coordizer_version}: {result.basins_written} basins recomputed; "
        f"kernels rebuilt: {rebuilt}; {result.kernels_current} already current "
        f"({result.duration_s:.1f} s)"
    )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = subparsers.add_parser("db", help="database schema migrations")
    # Every db action, present and future, is checked: in production none may fall back
    # to a local SQLite file.
    db.set_defaults(production_role=Role.MIGRATE)
    sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = sub.add_parser("upgrade", help="migrate to the newest schema (idempotent)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(func=_upgrade)
    down = sub.add_parser("downgrade", help="migrate back (default: to an empty database)")
    down.add_argument("--revision", default="base", help="target revision (default: base)")
    down.set_defaults(func=_downgrade)
    cur = sub.add_parser("current", help="print the database's schema revision")
    cur.set_defaults(func=_current)
    rec = sub.add_parser(
        "recoordize",
        help="recompute stored basins of another coordizer version and rebuild kernels "
        "trained on one (idempotent, resumable)",
    )
    rec.set_defaults(func=_recoordize)
