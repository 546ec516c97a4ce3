"""Claims quarantine rows they cannot decode (SQLite and PostgreSQL, every timescale)."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from pantheon.clock import utcnow
from pantheon.store import outcome_stats
from pantheon.store import outcomes as outcome_rows
from pantheon.store.db import Database
from pantheon.store.models import outcome_batch_queue, outcomes
from tests.integration.store.test_claims import _insert, _rows

pytestmark = pytest.mark.integration

NAN_BASIN = np.full(64, np.nan, dtype="<f4").tobytes()


def _corrupt(db: Database, oid: int, basin: bytes = b"\x00\x01\x02") -> None:
    with db.session() as s:
        s.execute(sa.update(outcomes).where(outcomes.c.id == oid).values(basin=basin))


def _row(db: Database, oid: int) -> dict[str, object]:
    with db.session(write=False) as s:
        return dict(s.execute(sa.select(outcomes).where(outcomes.c.id == oid)).one()._mapping)


@pytest.mark.parametrize("column", [outcome_rows.ONLINE, outcome_rows.BATCH])
def test_a_claim_quarantines_bad_rows_and_returns_the_rest(db: Database, column: str) -> None:
    ids = _insert(db, _rows(6))
    _corrupt(db, ids[1])
    _corrupt(db, ids[4], NAN_BASIN)
    with db.session() as s:
        claimed = outcome_rows.claim(s, "zeus", column, 10)
    assert list(claimed.ids) == [ids[0], ids[2], ids[3], ids[5]]
    assert sorted(claimed.quarantined) == [ids[1], ids[4]]
    assert np.isfinite(claimed.basins).all()
    bad = _row(db, ids[1])
    assert bad["quarantined_at"] is not None
    assert "64 float32" in str(bad["error"])
    assert bad[column] is None  # not trained at that timescale: the mark is undone
    assert "non-finite" in str(_row(db, ids[4])["error"])
    with db.session() as s:
        again = outcome_rows.claim(s, "zeus", outcome_rows.ONLINE, 10)
        assert outcome_rows.quarantine_error(s, ids[1]) is not None
        assert outcome_rows.quarantine_error(s, ids[0]) is None
        queued = s.execute(sa.select(sa.func.count()).select_from(outcome_batch_queue)).scalar()
    # The online claim skips them for good; the batch queue is left as before for them.
    assert ids[1] not in set(again.ids)
    assert ids[1] not in again.quarantined
    assert queued == (6 if column == outcome_rows.ONLINE else 0)


def test_skipped_by_the_sweep_consolidation_and_counted(db: Database) -> None:
    ids = _insert(db, _rows(4))
    _corrupt(db, ids[0])
    with db.session() as s:
        outcome_rows.claim(s, "zeus", outcome_rows.ONLINE, 1)  # takes only the bad row
        assert [i for i, _ in outcome_rows.pending_online(s, 0, 100)] == ids[1:]
        assert outcome_rows.count_pending(s, "zeus", outcome_rows.ONLINE) == 3
        figures = outcome_stats.counts(s)
        consolidated = outcome_rows.claim_for_consolidation(
            s, "zeus", utcnow().replace(year=2000), 0.0, 100
        )
    assert figures["quarantined"] == 1
    assert figures["pending_online"] == 3
    assert figures["pending_batch"] == 3
    assert figures["trained_online"] == 0
    assert list(consolidated.ids) == ids[1:]
    # The hourly claim takes the quarantined row off the queue without counting it.
    with db.session() as s:
        batch = outcome_rows.claim(s, "zeus", outcome_rows.BATCH, 100)
        figures = outcome_stats.counts(s)
    assert list(batch.ids) == ids[1:]
    assert figures["batch_processed"] == 3
    assert figures["pending_batch"] == 0


def test_recent_prompts_are_distinct_newest_first(db: Database) -> None:
    rows = _rows(5)
    for i, row in enumerate(rows):
        row["prompt"] = ["a", "b", "a", "c", "b"][i]
    ids = _insert(db, rows)
    _corrupt(db, ids[3])  # "c"
    with db.session(write=False) as s:
        assert outcome_stats.recent_prompts(s, 10) == ["b", "c", "a"]
    with db.session() as s:
        outcome_rows.claim(s, "zeus", outcome_rows.ONLINE, 10)
    with db.session(write=False) as s:
        assert outcome_stats.recent_prompts(s, 10) == ["b", "a"]
        assert outcome_stats.recent_prompts(s, 1) == ["b"]
