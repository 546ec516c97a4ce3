"""Arguments of ``pantheon db upgrade|downgrade|current|recoordize``; they run in
:mod:`pantheon.cli.db`."""

from __future__ import annotations

import argparse

from pantheon.config import Role


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = subparsers.add_parser("db", help="database schema migrations")
    # Every db action, present and future, is checked: in production none may fall back
    # to a local SQLite file.
    db.set_defaults(production_role=Role.MIGRATE)
    sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = sub.add_parser("upgrade", help="migrate to the newest schema (idempotent)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(runner="pantheon.cli.db:run_upgrade")
    down = sub.add_parser("downgrade", help="migrate back (default: to an empty database)")
    down.add_argument("--revision", default="base", help="target revision (default: base)")
    down.set_defaults(runner="pantheon.cli.db:run_downgrade")
    cur = sub.add_parser("current", help="print the database's schema revision")
    cur.set_defaults(runner="pantheon.cli.db:run_current")
    rec = sub.add_parser(
        "recoordize",
        help="recompute stored basins of another coordizer version and rebuild kernels "
        "trained on one (idempotent, resumable)",
    )
    rec.set_defaults(runner="pantheon.cli.db:run_recoordize")
