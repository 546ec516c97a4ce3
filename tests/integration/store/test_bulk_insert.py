"""Intake: one statement or binary COPY on PostgreSQL, multi-row INSERT on SQLite, same answers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pantheon.store._pg_bulk import INLINE_MAX
from pantheon.store.db import Database
from pantheon.store.models import outcome_batch_queue, outcomes
from pantheon.store.outcome_intake import insert_outcomes
from tests.integration.store.test_claims import _rows

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
            ids, new = insert_outcomes(s, batch)
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
        again, new_again = insert_outcomes(s, [keyed[2], keyed[3], keyed[1]])
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
        first, _ = insert_outcomes(s, keyed[:10])  # stored before: duplicates below
    batch = [*keyless, *keyed]
    with db.session() as s:
        ids, new = insert_outcomes(s, batch)
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
        again, new_again = insert_outcomes(s, keyed)
    assert again == ids[3:]
    assert not any(new_again)
