"""Batch intake: binary COPY on PostgreSQL, multi-row INSERT on SQLite, same answers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pantheon.store import outcomes as outcome_rows
from pantheon.store.db import Database
from pantheon.store.models import outcome_batch_queue, outcomes
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
            ids, new = outcome_rows.insert_outcomes(s, batch)
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
        again, new_again = outcome_rows.insert_outcomes(s, [keyed[2], keyed[3], keyed[1]])
        stored = s.execute(sa.select(outcomes.c.id, outcomes.c.outcome_key)).all()
        queued = s.execute(sa.select(outcome_batch_queue.c.outcome_id)).scalars().all()
    assert new_again == [False, True, False]
    assert again[0] == ids[5]
    assert again[2] == ids[2]
    assert len(stored) == 6
    assert sorted(queued) == sorted(i for i, _ in stored)
    by_key = {k: i for i, k in stored if k}
    assert by_key == {"k-0": ids[0], "k-1": ids[2], "k-2": ids[5], "k-3": again[1]}
