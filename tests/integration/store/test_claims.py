"""Set-based claims: limits honoured, concurrent claims disjoint, marks only on commit."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from pantheon.clock import utcnow
from pantheon.store import outcome_stats
from pantheon.store import outcomes as outcome_rows
from pantheon.store.basins import encode_basins
from pantheon.store.db import Database
from pantheon.store.models import outcome_batch_queue, outcomes
from pantheon.store.outcome_intake import insert_outcomes

pytestmark = pytest.mark.integration


def _rows(n: int, god: str = "zeus", key: str | None = None) -> list[dict[str, Any]]:
    basins = np.random.default_rng(0).dirichlet(np.ones(64), size=n)
    return [
        {
            "outcome_key": f"{key}-{i}" if key else None,
            "god_name": god,
            "prompt": f"p{i}",
            "response": "r",
            "success": bool(i % 2),
            "basin": blob,
            "reward": 0.5 if i % 2 else -0.5,
            "source_type": "chat",
            "created_at": utcnow(),
        }
        for i, blob in enumerate(encode_basins(basins))
    ]


def _insert(db: Database, rows: list[dict[str, Any]]) -> list[int]:
    with db.session() as s:
        return insert_outcomes(s.connection(), rows)[0]


def test_claim_honours_its_limit_and_returns_decoded_rows(db: Database) -> None:
    ids = _insert(db, _rows(30))
    _insert(db, _rows(5, god="hera"))
    with db.session() as s:
        claimed = outcome_rows.claim(s, "zeus", outcome_rows.BATCH, 20)
    assert list(claimed.ids) == ids[:20]
    assert claimed.basins.shape == (20, 64)
    np.testing.assert_allclose(claimed.basins.sum(axis=1), 1.0, rtol=1e-5)
    assert claimed.successes.tolist() == [bool(i % 2) for i in range(20)]
    with db.session() as s:
        rest = outcome_rows.claim(s, "zeus", outcome_rows.BATCH, 20)
        assert list(rest.ids) == ids[20:]
        assert len(outcome_rows.claim(s, "zeus", outcome_rows.BATCH, 20)) == 0
        assert outcome_rows.count_pending(s, "hera", outcome_rows.BATCH) == 5


def test_claim_with_include_id(db: Database) -> None:
    ids = _insert(db, _rows(10))
    with db.session() as s:
        claimed = outcome_rows.claim(s, "zeus", outcome_rows.ONLINE, 3, include_id=ids[7])
    assert sorted(claimed.ids.tolist()) == sorted([ids[7], ids[0], ids[1]])


def test_rolled_back_claim_marks_nothing(db: Database) -> None:
    _insert(db, _rows(5))
    claimed: list[int] = []

    def crash_after_claim() -> None:
        with db.session() as s:
            claimed.extend(outcome_rows.claim(s, "zeus", outcome_rows.BATCH, 10).ids.tolist())
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash_after_claim()
    assert len(claimed) == 5
    with db.session(write=False) as s:
        assert outcome_rows.count_pending(s, "zeus", outcome_rows.BATCH) == 5


def test_two_concurrent_claims_share_no_row(db: Database) -> None:
    ids = _insert(db, _rows(100))
    barrier = threading.Barrier(2)
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            with db.session() as s:
                claimed = outcome_rows.claim(s, "zeus", outcome_rows.BATCH, 30)
                got[name] = claimed.ids.tolist()
                # Hold the claim (and its row locks) while the other thread claims.
                threading.Event().wait(0.3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(got["a"]) == len(got["b"]) == 30
    assert not set(got["a"]) & set(got["b"])
    with db.session(write=False) as s:
        marked = s.execute(
            sa.select(outcomes.c.id).where(outcomes.c.batch_processed_at.is_not(None))
        ).scalars()
        assert sorted(marked) == sorted(got["a"] + got["b"])
    assert set(got["a"] + got["b"]) <= set(ids)


def test_insert_is_idempotent_on_key(db: Database) -> None:
    first = _insert(db, _rows(5, key="k"))
    with db.session() as s:
        again, new = insert_outcomes(s.connection(), _rows(7, key="k"))
    assert again[:5] == first
    assert new == [False] * 5 + [True] * 2
    with db.session(write=False) as s:
        assert outcome_stats.counts(s)["outcomes"] == 7


def test_claim_for_consolidation_takes_valuable_recent_rows(db: Database) -> None:
    rows = _rows(6)
    rows[0]["reward"] = 0.05  # too little signal
    rows[1]["created_at"] = utcnow().replace(year=2020)  # too old
    rows[2]["reward"] = -0.9  # most valuable: taken first
    _insert(db, rows)
    since = utcnow().replace(year=2025)
    with db.session() as s:
        first = outcome_rows.claim_for_consolidation(s, "zeus", since, 0.2, 1)
        assert first.rewards.tolist() == [-0.9]
        claimed = outcome_rows.claim_for_consolidation(s, "zeus", since, 0.2, 100)
        assert len(claimed) == 3
        assert len(outcome_rows.claim_for_consolidation(s, "zeus", since, 0.2, 100)) == 0


def test_batch_queue_mirrors_unprocessed_rows(db: Database) -> None:
    _insert(db, _rows(12, key="q"))
    _insert(db, _rows(3, key="q"))  # duplicates: nothing new queued
    _insert(db, _rows(4, god="hera"))
    with db.session() as s:
        outcome_rows.claim(s, "zeus", outcome_rows.BATCH, 5)
    with db.session(write=False) as s:
        queued = set(s.execute(sa.select(outcome_batch_queue.c.outcome_id)).scalars())
        pending = set(
            s.execute(
                sa.select(outcomes.c.id).where(outcomes.c.batch_processed_at.is_(None))
            ).scalars()
        )
    assert queued == pending
    assert len(pending) == 7 + 4
