"""Storing outcomes: idempotent inserts that enqueue each new row for the hourly batch.

PostgreSQL (see ``_pg_bulk``): the existing-key check is the insert itself. Keyed rows
go through one ``INSERT … ON CONFLICT (outcome_key) DO NOTHING RETURNING`` whose returned
rows also feed the batch-queue insert in the same statement; only the keys that
conflicted are then looked up (none, on an ordinary request). A few rows (a chat app's
one outcome) are one statement with their values inline; a batch is one binary COPY into
a per-connection staging table, then that statement over the staging table. Rows without
a key cannot conflict and are copied straight into ``outcomes``.

SQLite: multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` and a queue insert.

:func:`insert_outcomes` writes in the caller's transaction, so the rows, their queue
entries and the caller's other writes commit together. :func:`store_outcomes` commits the
rows on their own: on PostgreSQL a few rows are then one statement on an autocommit
connection, with no ``BEGIN`` and ``COMMIT`` round trips around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from pantheon.store._pg_bulk import INLINE_MAX, copy_insert, copy_queue
from pantheon.store.db import Database
from pantheon.store.models import outcome_batch_queue, outcomes

_IN_CHUNK = 1000


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def existing_keys(conn: sa.Connection, keys: Sequence[str]) -> dict[str, int]:
    """{outcome_key: id} of the stored ones among ``keys``."""
    found: dict[str, int] = {}
    for part in _chunks(keys):
        stmt = sa.select(outcomes.c.outcome_key, outcomes.c.id).where(
            outcomes.c.outcome_key.in_(part)
        )
        found.update({k: int(i) for k, i in conn.execute(stmt)})
    return found


def store_outcomes(
    database: Database, rows: Sequence[dict[str, Any]]
) -> tuple[list[int], list[bool]]:
    """:func:`insert_outcomes`, committed before it returns.

    PostgreSQL, up to ``INLINE_MAX`` rows (a chat app's one outcome): the insert is one
    statement (``_pg_bulk``), so it runs on an autocommit connection and commits by itself,
    rows and queue entries together. A transaction around it would add a ``BEGIN`` and a
    ``COMMIT`` round trip and SQLAlchemy's session bookkeeping: about half of storing one
    outcome's web CPU (docs/CAPACITY.md, "Single intake: one statement, no transaction").
    A key that conflicted is then looked up by a second, read-only statement. Larger
    batches, and SQLite (an insert and a queue insert), take a transaction.
    """
    if database.is_postgresql and len(rows) <= INLINE_MAX:
        with database.single_statement() as conn:
            return insert_outcomes(conn, rows)
    with database.session() as session:
        return insert_outcomes(session.connection(), rows)


def insert_outcomes(
    conn: sa.Connection, rows: Sequence[dict[str, Any]]
) -> tuple[list[int], list[bool]]:
    """Insert rows (column dicts); returns (id per input row, True where newly stored).

    A row whose ``outcome_key`` is already stored (or repeats an earlier row of the same
    call) is not stored again: its id is the existing one and its flag is False. Every
    row stored is put on the hourly batch queue in the same transaction.
    """
    keys = [r.get("outcome_key") for r in rows]
    first_of_key: dict[str, int] = {}
    keyed: list[dict[str, Any]] = []
    keyless: list[int] = []
    for i, key in enumerate(keys):
        if key is None:
            keyless.append(i)
        elif key not in first_of_key:
            first_of_key[key] = i
            keyed.append(rows[i])
    if conn.dialect.name == "postgresql":
        keyless_ids, stored = copy_insert(conn, [rows[i] for i in keyless], keyed)
    else:
        keyless_ids, stored = _insert_many(conn, [rows[i] for i in keyless], keyed)
    ids: list[int] = [0] * len(rows)
    new = [False] * len(rows)
    for i, oid in zip(keyless, keyless_ids, strict=True):
        ids[i], new[i] = oid, True
    for key in stored:
        new[first_of_key[key]] = True
    # A key not stored by this call was stored before (or by a concurrent intake that
    # won the race): theirs stands. Only these are looked up.
    known = dict(stored)
    missing = [k for k in first_of_key if k not in stored]
    if missing:
        known.update(existing_keys(conn, missing))
    for i, key in enumerate(keys):
        if key is not None:
            ids[i] = known[key]
    return ids, new


def enqueue_batch(conn: sa.Connection, pairs: Sequence[tuple[int, str]]) -> None:
    """Put new outcomes on the hourly batch queue (same transaction as their insert)."""
    if not pairs:
        return
    if conn.dialect.name == "postgresql":
        copy_queue(conn, pairs)
    else:
        conn.execute(
            sa.insert(outcome_batch_queue),
            [{"outcome_id": oid, "god_name": god} for oid, god in pairs],
        )


def _insert_many(
    conn: sa.Connection, keyless: Sequence[dict[str, Any]], keyed: Sequence[dict[str, Any]]
) -> tuple[list[int], dict[str, int]]:
    """Multi-row INSERT … RETURNING, then the queue entries (SQLite)."""
    stored: dict[str, int] = {}
    gods: dict[int, str] = {}
    if keyed:
        stmt = (
            sqlite.insert(outcomes)
            .on_conflict_do_nothing(
                index_elements=["outcome_key"], index_where=outcomes.c.outcome_key.is_not(None)
            )
            .returning(outcomes.c.id, outcomes.c.outcome_key, outcomes.c.god_name)
        )
        for i, k, god in conn.execute(stmt, list(keyed)):
            stored[str(k)] = int(i)
            gods[int(i)] = str(god)
    ids: list[int] = []
    if keyless:
        stmt = sa.insert(outcomes).returning(outcomes.c.id, sort_by_parameter_order=True)
        ids = [int(i) for i in conn.execute(stmt, list(keyless)).scalars()]
        gods.update({oid: str(row["god_name"]) for oid, row in zip(ids, keyless, strict=True)})
    enqueue_batch(conn, sorted(gods.items()))
    return ids, stored
