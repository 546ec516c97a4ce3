"""PostgreSQL fast paths: intake in one statement or by binary COPY, and the hourly claim
as one statement.

Intake of a few rows (``INLINE_MAX``; a chat app's one outcome) is one round trip: a
statement that draws the ids, inserts with ``ON CONFLICT (outcome_key) DO NOTHING``,
queues what it stored for the hourly batch and answers (ordinal, id, stored) per row.

A batch: the multi-row INSERT path spends most of its time in the driver rewriting
thousands of placeholders; binary COPY does not. Ids are drawn from the table's sequence
first, so every input row knows its id without RETURNING. Rows without an
``outcome_key`` cannot conflict and are copied straight into ``outcomes``; keyed rows go
through a per-connection temporary table and one ``INSERT … SELECT … ON CONFLICT DO
NOTHING RETURNING`` that also queues them. The conflict check is the unique index the
insert probes anyway, so no key is looked up before; it also settles a race with a
concurrent intake of the same key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

COLUMNS = (
    "id",
    "outcome_key",
    "god_name",
    "prompt",
    "response",
    "success",
    "score",
    "phi",
    "kappa",
    "coherence_score",
    "basin",
    "coordizer_version",
    "reward",
    "source_type",
    "source_id",
    "created_at",
)
TYPES = (
    "int8",
    "varchar",
    "varchar",
    "text",
    "text",
    "bool",
    "float8",
    "float8",
    "float8",
    "float8",
    "bytea",
    "varchar",
    "float8",
    "varchar",
    "varchar",
    "timestamptz",
)
_COLS = ", ".join(COLUMNS)
_STAGE = "_pantheon_outcomes_in"


def _next_ids(conn: sa.Connection, n: int) -> list[int]:
    # One array in one row: fetching n one-column rows costs more than drawing the ids.
    result = conn.execute(
        sa.text(
            "SELECT array_agg(nextval(pg_get_serial_sequence('outcomes', 'id'))) "
            "FROM generate_series(1, :n)"
        ),
        {"n": n},
    )
    return [int(i) for i in result.scalar_one()]


def _copy(cursor: Any, table: str, rows: Sequence[dict[str, Any]], ids: Sequence[int]) -> None:
    with cursor.copy(f"COPY {table} ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(TYPES)
        for oid, row in zip(ids, rows, strict=True):
            copy.write_row((oid, *_values(row)))


#: Up to this many rows go inline in one statement; more are copied to the staging table.
INLINE_MAX = 64
_SEQ = "pg_get_serial_sequence('outcomes', 'id')"
_CONFLICT = "ON CONFLICT (outcome_key) WHERE outcome_key IS NOT NULL DO NOTHING"
#: The keyed insert from the staging table: stored rows are queued in the same statement.
#: Emptying the staging table is part of the statement (``DELETE … RETURNING`` feeds the
#: insert): no TRUNCATE round trip, and a second intake in the same transaction starts
#: from an empty table.
_FROM_STAGE = (
    f"WITH s AS (DELETE FROM {_STAGE} RETURNING {_COLS}), "  # noqa: S608 (constants)
    f"ins AS (INSERT INTO outcomes ({_COLS}) SELECT {_COLS} FROM s "
    f"{_CONFLICT} RETURNING id, outcome_key, god_name), "
    "q AS (INSERT INTO outcome_batch_queue (outcome_id, god_name) SELECT id, god_name FROM ins) "
    "SELECT id, outcome_key FROM ins"
)


def _values(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row.get("outcome_key"),
        row["god_name"],
        row["prompt"],
        row["response"],
        row["success"],
        row.get("score"),
        row.get("phi"),
        row.get("kappa"),
        row.get("coherence_score"),
        row.get("basin"),
        row.get("coordizer_version"),
        row["reward"],
        row.get("source_type", "chat"),
        row.get("source_id"),
        row["created_at"],
    )


@lru_cache(maxsize=INLINE_MAX)
def _inline_sql(n: int) -> str:
    """One statement for ``n`` rows: ids from the sequence, the insert (keyed rows that
    conflict are skipped), their queue entries, and (ordinal, id, stored) per input row.

    ``n`` is materialised once (``nextval`` is volatile), so the ids it hands out are the
    ones inserted and reported.
    """
    cast = "(" + ", ".join(["%s::int4"] + [f"%s::{t}" for t in TYPES[1:]]) + ")"
    values = ", ".join([cast] * n)
    cols = ", ".join(COLUMNS[1:])
    return (
        f"WITH v (ord, {cols}) AS (VALUES {values}), "  # noqa: S608 (constants)
        f"n AS MATERIALIZED (SELECT v.*, nextval({_SEQ}) AS id FROM v), "
        f"ins AS (INSERT INTO outcomes ({_COLS}) SELECT {_COLS} FROM n {_CONFLICT} "
        "RETURNING id, god_name), "
        "q AS (INSERT INTO outcome_batch_queue (outcome_id, god_name) "
        "SELECT id, god_name FROM ins) "
        "SELECT n.ord, n.id, ins.id IS NOT NULL FROM n LEFT JOIN ins ON ins.id = n.id"
    )


def _insert_inline(cursor: Any, rows: Sequence[dict[str, Any]]) -> list[tuple[int, bool]]:
    """(id, stored) per row, in order, from one round trip."""
    params: list[Any] = []
    for i, row in enumerate(rows):
        params.append(i)
        params.extend(_values(row))
    cursor.execute(_inline_sql(len(rows)), params)
    found = {int(o): (int(i), bool(s)) for o, i, s in cursor.fetchall()}
    return [found[i] for i in range(len(rows))]


def _stage(cursor: Any, info: dict[str, Any]) -> None:
    # Created once per connection (it lives as long as the connection), not per request.
    if not info.get(_STAGE):
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
            "(LIKE outcomes INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        info[_STAGE] = True


def copy_insert(
    conn: sa.Connection, keyless: Sequence[dict[str, Any]], keyed: Sequence[dict[str, Any]]
) -> tuple[list[int], dict[str, int]]:
    """Store and enqueue rows; returns (ids of ``keyless`` in order, {key: id} of the keyed
    rows stored). A keyed row whose key is already stored is skipped (not in the dict).

    Up to ``INLINE_MAX`` rows in all are one statement, which an autocommit connection
    commits by itself (``store.outcome_intake.store_outcomes``); more take several, so
    they need the caller's transaction."""
    pool_conn = conn.connection
    raw = pool_conn.driver_connection
    assert raw is not None
    stored: dict[str, int] = {}
    keyless_ids: list[int] = []
    if not keyless and not keyed:  # e.g. every row a repeat of a known key: nothing to send
        return keyless_ids, stored
    with raw.cursor() as cursor:
        if len(keyless) + len(keyed) <= INLINE_MAX:
            answers = _insert_inline(cursor, [*keyless, *keyed])
            keyless_ids = [oid for oid, _ in answers[: len(keyless)]]
            for row, (oid, fresh) in zip(keyed, answers[len(keyless) :], strict=True):
                if fresh:
                    stored[str(row["outcome_key"])] = oid
            return keyless_ids, stored
        ids = _next_ids(conn, len(keyless) + len(keyed))
        keyless_ids = ids[: len(keyless)]
        if keyless:
            _copy(cursor, "outcomes", keyless, keyless_ids)
        if keyed:
            _stage(cursor, pool_conn.info)
            _copy(cursor, _STAGE, keyed, ids[len(keyless) :])
            cursor.execute(_FROM_STAGE)
            stored = {str(k): int(i) for i, k in cursor.fetchall()}
    if keyless:
        copy_queue(
            conn,
            [(oid, str(r["god_name"])) for oid, r in zip(keyless_ids, keyless, strict=True)],
        )
    return keyless_ids, stored


def copy_queue(conn: sa.Connection, pairs: Sequence[tuple[int, str]]) -> None:
    """Enqueue (outcome id, god) pairs for the hourly batch."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY outcome_batch_queue (outcome_id, god_name) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(("int8", "varchar"))
        for pair in pairs:
            copy.write_row(pair)


_BATCH_CLAIM = """
WITH taken AS (
    DELETE FROM outcome_batch_queue
    WHERE outcome_id = ANY(ARRAY(
        SELECT outcome_id FROM outcome_batch_queue WHERE god_name = %(god)s
        ORDER BY outcome_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED))
    RETURNING outcome_id)
UPDATE outcomes SET batch_processed_at = %(now)s
WHERE id = ANY(ARRAY(SELECT outcome_id FROM taken)) AND batch_processed_at IS NULL
RETURNING id, basin, reward, success, coordizer_version
"""


def claim_batch(session: Session, god: str, limit: int, now: datetime) -> list[Any]:
    """Take up to ``limit`` of the god's queued outcomes and mark them batch-processed.

    One round trip, no id list through the client. ``ARRAY(SELECT …)`` runs once (an
    InitPlan), so the ``LIMIT … SKIP LOCKED`` pick cannot be re-evaluated into a bigger
    claim, and both ``= ANY`` filters are primary-key index probes. The update touches no
    indexed column, so on pages with free space it is a HOT update. The rows come back in
    binary format: a basin arrives as its 256 bytes rather than as hex text to decode,
    which halves the client's CPU per claimed row.
    """
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor(binary=True) as cursor:
        cursor.execute(_BATCH_CLAIM, {"god": god, "limit": limit, "now": now})
        return list(cursor.fetchall())
