"""Retention: old trained outcomes and old audit rows go; untrained ones never do."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pantheon.clock import utcnow
from pantheon.store import outcome_retention
from pantheon.store.db import Database
from pantheon.store.models import outcome_batch_queue, outcomes, training_history
from pantheon.store.outcome_intake import insert_outcomes
from tests.integration.store.test_claims import _rows

pytestmark = pytest.mark.integration


def test_expire_deletes_only_old_fully_trained_or_quarantined_outcomes(db: Database) -> None:
    now = utcnow()
    old = now - timedelta(days=100)
    rows = _rows(8)
    for row in rows[:6]:
        row["created_at"] = old
    with db.session() as s:
        ids, _ = insert_outcomes(s.connection(), rows)
        both = {"trained_online_at": now, "batch_processed_at": now}
        # 0, 1: old and trained at both timescales; 2: old, online only; 3: old, untrained;
        # 4: old, quarantined; 5: old and trained; 6, 7: recent and trained.
        s.execute(sa.update(outcomes).where(outcomes.c.id.in_(ids[:2] + ids[6:])).values(both))
        s.execute(sa.update(outcomes).where(outcomes.c.id == ids[2]).values(trained_online_at=now))
        s.execute(sa.update(outcomes).where(outcomes.c.id == ids[4]).values(quarantined_at=now))
        s.execute(sa.update(outcomes).where(outcomes.c.id == ids[5]).values(both))
        batched = ids[:2] + ids[5:]
        s.execute(
            sa.delete(outcome_batch_queue).where(outcome_batch_queue.c.outcome_id.in_(batched))
        )
        s.execute(
            sa.insert(training_history),
            [
                {"kernel_name": "zeus", "god_name": "zeus", "timescale": "online", "created_at": t}
                for t in (old, now)
            ],
        )
    settings = db.settings.model_copy(update={"retention_chunk": 2})
    deleted = outcome_retention.expire(db, settings, now=now)
    with db.session() as s:
        left = set(s.execute(sa.select(outcomes.c.id)).scalars())
        history = s.execute(sa.select(sa.func.count()).select_from(training_history)).scalar()
    assert deleted["outcomes_deleted"] == 4
    assert left == {ids[2], ids[3], ids[6], ids[7]}
    assert deleted["history_deleted"] == 1
    assert history == 1


def test_zero_keep_days_keeps_everything(db: Database) -> None:
    rows = _rows(3)
    for row in rows:
        row["created_at"] = utcnow() - timedelta(days=1000)
    with db.session() as s:
        insert_outcomes(s.connection(), rows)
        s.execute(sa.update(outcomes).values(trained_online_at=utcnow(), quarantined_at=utcnow()))
    settings = db.settings.model_copy(update={"outcome_keep_days": 0, "history_keep_days": 0})
    assert outcome_retention.expire(db, settings)["outcomes_deleted"] == 0
    with db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(outcomes)).scalar() == 3
