"""The exactly-once audit must see what it claims to see: lost and doubled outcomes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from benchmarks.audit import Auditor

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.store.migrate import ensure_schema
from pantheon.store.models import kernels, outcomes, training_history

pytestmark = pytest.mark.unit


@pytest.fixture
def db(tmp_path: Path) -> str:
    settings = Settings(env="test", data_dir=tmp_path, task_mode="sync")
    ensure_schema(settings)
    return settings.database_url


def add_outcomes(url: str, god: str, n: int, trained: int) -> list[int]:
    engine = sa.create_engine(url)
    ids = []
    with engine.begin() as conn:
        for i in range(n):
            row: dict[str, Any] = {
                "god_name": god,
                "prompt": f"p{i}",
                "response": "r",
                "success": True,
                "basin": b"\0" * 256,
                "reward": 0.5,
                "source_type": "replay",
                "created_at": utcnow(),
                "trained_online_at": utcnow() if i < trained else None,
            }
            key = conn.execute(sa.insert(outcomes).values(**row)).inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
    engine.dispose()
    return ids


def set_kernel(url: str, god: str, outcomes_trained: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(kernels).values(
                name=god,
                god_name=god,
                kind="god",
                state=b"",
                version=1,
                step_count=1,
                outcomes_trained=outcomes_trained,
                metrics={},
                retired=False,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    engine.dispose()


def test_a_clean_run_audits_clean(db: str) -> None:
    ids = add_outcomes(db, "zeus", 3, trained=3)
    set_kernel(db, "zeus", 3)
    audit = Auditor(db).audit(ids)
    assert (audit.accepted, audit.trained_once, audit.n_lost, audit.n_duplicated) == (3, 3, 0, 0)


def test_untrained_outcomes_are_lost(db: str) -> None:
    ids = add_outcomes(db, "zeus", 3, trained=1)
    set_kernel(db, "zeus", 1)
    audit = Auditor(db).audit(ids)
    assert audit.lost == ids[1:]
    assert audit.n_duplicated == 0


def test_a_kernel_that_learned_more_outcomes_than_were_marked_counts_duplicates(db: str) -> None:
    zeus = add_outcomes(db, "zeus", 2, trained=2)
    athena = add_outcomes(db, "athena", 2, trained=2)
    set_kernel(db, "zeus", 3)  # one outcome trained twice
    set_kernel(db, "athena", 1)  # a shortfall elsewhere must not hide it
    audit = Auditor(db).audit(zeus + athena)
    assert audit.n_duplicated == 1


def test_per_outcome_ids_in_the_history_name_the_doubled_outcome(db: str) -> None:
    ids = add_outcomes(db, "zeus", 3, trained=3)
    set_kernel(db, "zeus", 3)
    engine = sa.create_engine(db)
    with engine.begin() as conn:
        for listed in ([ids[0], ids[1]], [ids[1], ids[2]]):
            conn.execute(
                sa.insert(training_history).values(
                    kernel_name="zeus",
                    god_name="zeus",
                    timescale="online",
                    outcomes=2,
                    steps=1,
                    step_count=1,
                    version=1,
                    details={"outcome_ids": listed},
                    created_at=utcnow(),
                )
            )
    engine.dispose()
    audit = Auditor(db).audit(ids)
    assert audit.per_outcome_ids
    assert audit.duplicated == [ids[1]]


def mark_trained(url: str, ids: list[int]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.update(outcomes).where(outcomes.c.id.in_(ids)).values(trained_online_at=utcnow())
        )
    engine.dispose()


def test_a_wait_with_a_stall_bound_gives_up_once_nothing_more_is_trained(db: str) -> None:
    ids = add_outcomes(db, "zeus", 3, trained=1)
    started = time.monotonic()
    assert Auditor(db).wait_trained(ids, timeout=30.0, stall=0.5) is None
    assert time.monotonic() - started < 10.0  # the stall ended it, not the 30 s bound


def test_a_wait_with_a_stall_bound_returns_once_every_outcome_is_trained(db: str) -> None:
    ids = add_outcomes(db, "zeus", 3, trained=1)
    auditor = Auditor(db)
    done = threading.Timer(0.4, mark_trained, args=(db, ids))
    done.start()
    try:
        took = auditor.wait_trained(ids, timeout=30.0, stall=5.0)
    finally:
        done.join()
    assert took is not None
    assert took >= 0.3
