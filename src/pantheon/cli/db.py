"""``pantheon db upgrade|downgrade|current``: the store's schema migrations."""

from __future__ import annotations

import argparse
from typing import Any

from pantheon.config import Role, Settings
from pantheon.store import migrate


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


def register(subparsers: Any) -> None:
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
