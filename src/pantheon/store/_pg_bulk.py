"""PostgreSQL fast paths: bulk intake by binary COPY, and the hourly claim as one statement.

Intake: the multi-row INSERT path spends most of its time in the driver rewriting
thousands of placeholders; binary COPY does not.

Ids are drawn from the table's sequence first, so every input row knows its id without
RETURNING. Rows without an ``outcome_key`` cannot conflict and are copied straight into
``outcomes``; keyed rows go through a per-connection temporary table and one
``INSERT … SELECT … ON CONFLICT (outcome_key) DO NOTHING RETURNING id``, which settles a
race with a concurrent intake of the same key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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


def _next_ids(session: Session, n: int) -> list[int]:
    result = session.execute(
        sa.text(
            "SELECT nextval(pg_get_serial_sequence('outcomes', 'id')) FROM generate_series(1, :n)"
        ),
        {"n": n},
    )
    return [int(i) for i in result.scalars()]


def _copy(cursor: Any, table: str, rows: Sequence[dict[str, Any]], ids: Sequence[int]) -> None:
    with cursor.copy(f"COPY {table} ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(TYPES)
        for oid, row in zip(ids, rows, strict=True):
            copy.write_row(
                (
                    oid,
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
            )


def copy_insert(
    session: Session, keyless: Sequence[dict[str, Any]], keyed: Sequence[dict[str, Any]]
) -> tuple[list[int], dict[str, int]]:
    """Store rows; returns (ids of ``keyless`` in order, {key: id} of keyed rows stored)."""
    ids = _next_ids(session, len(keyless) + len(keyed)) if keyless or keyed else []
    raw = session.connection().connection.driver_connection
    assert raw is not None
    stored: dict[str, int] = {}
    with raw.cursor() as cursor:
        if keyless:
            _copy(cursor, "outcomes", keyless, ids[: len(keyless)])
        if keyed:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
                "(LIKE outcomes INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            key_ids = ids[len(keyless) :]
            _copy(cursor, _STAGE, keyed, key_ids)
            cursor.execute(
                f"INSERT INTO outcomes ({_COLS}) SELECT {_COLS} FROM {_STAGE} "  # noqa: S608 (constants)
                "ON CONFLICT (outcome_key) WHERE outcome_key IS NOT NULL "
                "DO NOTHING RETURNING id, outcome_key"
            )
            stored = {str(k): int(i) for i, k in cursor.fetchall()}
            cursor.execute(f"TRUNCATE {_STAGE}")
    return ids[: len(keyless)], stored


def copy_queue(session: Session, pairs: Sequence[tuple[int, str]]) -> None:
    """Enqueue (outcome id, god) pairs for the hourly batch."""
    raw = session.connection().connection.driver_connection
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
    indexed column, so on pages with free space it is a HOT update.
    """
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(_BATCH_CLAIM, {"god": god, "limit": limit, "now": now})
        return list(cursor.fetchall())
