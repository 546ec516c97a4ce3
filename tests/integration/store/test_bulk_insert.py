"""Intake: one statement or binary COPY on PostgreSQL, multi-row INSERT on SQLite, same answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from pantheon.errors import DatabaseUnavailableError
from pantheon.store import db as db_module
from pantheon.store._pg_bulk import INLINE_MAX
from pantheon.store.db import Database
from pantheon.store.migrate import ensure_schema
from pantheon.store.models import outcome_batch_queue, outcomes
from pantheon.store.outcome_intake import insert_outcomes, store_outcomes
from tests.integration.store.test_claims import _rows
from tests.integration.training.procs import build_settings, kill_other_backends

pytestmark = pytest.mark.integration


def test_mixed_batch_keeps_ids_flags_and_idempotency(db: Database) -> None:
    keyed = _rows(4, key="k")
    keyless = _rows(2)
    # keyed[0] again inside the same call: one row, the first one's id.
    batch = [keyed[0], keyless[0], keyed[1], keyed[0], keyless[1], keyed[2]]
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]).lstrip().upper())

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.session() as s:
            ids, new = insert_outcomes(s.connection(), batch)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert new == [True, True, True, False, True, True]
    assert ids[3] == ids[0]
    assert len(set(ids)) == 5
    if db.dialect_name == "postgresql":
        # COPY goes through the raw driver cursor: no outcome row passes through an
        # SQLAlchemy INSERT statement.
        assert not [q for q in statements if q.startswith("INSERT INTO OUTCOMES")]
    with db.session() as s:
        again, new_again = insert_outcomes(s.connection(), [keyed[2], keyed[3], keyed[1]])
        stored = s.execute(sa.select(outcomes.c.id, outcomes.c.outcome_key)).all()
        queued = s.execute(sa.select(outcome_batch_queue.c.outcome_id)).scalars().all()
    assert new_again == [False, True, False]
    assert again[0] == ids[5]
    assert again[2] == ids[2]
    assert len(stored) == 6
    assert sorted(queued) == sorted(i for i, _ in stored)
    by_key = {k: i for i, k in stored if k}
    assert by_key == {"k-0": ids[0], "k-1": ids[2], "k-2": ids[5], "k-3": again[1]}


def test_batch_beyond_the_inline_limit_is_staged_with_the_same_answers(db: Database) -> None:
    """More rows than INLINE_MAX take the COPY + staging path: same ids, flags, queue."""
    n = INLINE_MAX + 40
    keyed = _rows(n, key="big")
    keyless = _rows(3)
    with db.session() as s:
        first, _ = insert_outcomes(s.connection(), keyed[:10])  # stored before: duplicates below
    batch = [*keyless, *keyed]
    with db.session() as s:
        ids, new = insert_outcomes(s.connection(), batch)
        queued = s.execute(sa.select(outcome_batch_queue.c.outcome_id)).scalars().all()
        all_ids = s.execute(sa.select(outcomes.c.id)).scalars().all()
        stored = dict(s.execute(sa.select(outcomes.c.outcome_key, outcomes.c.id)).all())
    assert new == [True] * 3 + [False] * 10 + [True] * (n - 10)
    assert ids[3:13] == first
    assert len(set(ids)) == len(ids)
    assert sorted(queued) == sorted(all_ids)
    assert len(all_ids) == n + 3
    assert all(stored[f"big-{i}"] == ids[3 + i] for i in range(n))
    with db.session() as s:  # the staging table is empty again for the next batch
        again, new_again = insert_outcomes(s.connection(), keyed)
    assert again == ids[3:]
    assert not any(new_again)


def test_store_outcomes_commits_rows_and_queue_entries_together(db: Database) -> None:
    keyed = _rows(3, key="alone")
    ids, new = store_outcomes(db, [keyed[0], *_rows(1), keyed[1], keyed[0]])
    assert new == [True, True, True, False]
    assert ids[3] == ids[0]
    with db.session(write=False) as s:  # another connection sees all of it
        stored = s.execute(sa.select(outcomes.c.id)).scalars().all()
        queued = s.execute(sa.select(outcome_batch_queue.c.outcome_id)).scalars().all()
    assert sorted(stored) == sorted(queued) == sorted(set(ids))
    again, new_again = store_outcomes(db, [keyed[1], keyed[2]])
    assert again[0] == ids[2]
    assert new_again == [False, True]
    big = _rows(INLINE_MAX + 1, key="many")  # beyond one statement: a transaction
    assert all(store_outcomes(db, big)[1])


@pytest.fixture
def open_pg(postgres_url: str, tmp_path: Path) -> Iterator[Callable[[int], Database]]:
    """Migrated PostgreSQL databases with a pool of the given size, disposed afterwards."""
    opened: list[Database] = []

    def open_database(pool_size: int) -> Database:
        settings = build_settings(postgres_url, tmp_path, db_pool_size=pool_size)
        ensure_schema(settings)
        opened.append(Database(settings))
        return opened[-1]

    yield open_database
    for database in opened:
        database.dispose()


def test_a_few_outcomes_are_one_statement_that_commits_by_itself(
    open_pg: Callable[[int], Database],
) -> None:
    """On PostgreSQL no transaction is left open around the insert: the row is committed
    while the connection is still checked out, and the driver reports it idle."""
    db = open_pg(2)
    with db.single_statement() as conn:
        (oid,), (fresh,) = insert_outcomes(conn, _rows(1, key="solo"))
        driver = conn.connection.driver_connection
        assert driver is not None
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with db.session(write=False) as other:
            seen = other.execute(sa.select(outcome_batch_queue.c.outcome_id)).scalars()
            assert list(seen) == [oid]
    assert fresh


def test_connections_lost_under_the_statement_are_a_database_error_once(
    postgres_url: str, open_pg: Callable[[int], Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver's own error (the statement runs on its cursor) is mapped; as after a
    server restart, every pooled connection was dropped by the server, and only the first
    intake to meet one fails: the pool is replaced, the next intake gets a new connection."""
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)  # no ping finds them first
    db = open_pg(2)
    with db.single_statement() as one, db.single_statement() as two:  # two in the pool
        for conn in (one, two):
            conn.exec_driver_sql("SELECT 1")
    assert kill_other_backends(postgres_url) >= 2
    with pytest.raises(DatabaseUnavailableError):
        store_outcomes(db, _rows(1, key="during"))
    assert store_outcomes(db, _rows(1, key="after"))[1] == [True]


def test_an_idle_connection_the_server_dropped_is_replaced_before_the_statement(
    postgres_url: str, open_pg: Callable[[int], Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-statement pool pings idle connections, as the session pool does: a pooled
    connection that the server dropped is replaced at checkout, and intake never sees it."""
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)  # every checkout pings
    db = open_pg(1)
    with db.single_statement() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert kill_other_backends(postgres_url) >= 1
    assert store_outcomes(db, _rows(1, key="after"))[1] == [True]
