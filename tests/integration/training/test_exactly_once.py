"""Crashes between training and commit leave rows pending and the kernel unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from pantheon.learning import timescales
from pantheon.store import kernels as kernel_rows
from pantheon.store.models import outcomes
from pantheon.training.intake import OutcomeIn, ingest
from pantheon.training.service import TrainingService

pytestmark = pytest.mark.integration


def _ingest(svc: TrainingService, god: str, n: int, start: int = 0) -> list[int]:
    items = [
        OutcomeIn(god_name=god, prompt=f"q {i} {god}", response="a", success=i % 2 == 0)
        for i in range(start, start + n)
    ]
    return ingest(svc, items).outcome_ids


def _snapshot(svc: TrainingService, god: str) -> tuple[Any, ...]:
    with svc.database.session(write=False) as s:
        record = kernel_rows.read(s, god)
        marks = s.execute(
            sa.select(
                sa.func.count(outcomes.c.trained_online_at),
                sa.func.count(outcomes.c.batch_processed_at),
                sa.func.count(outcomes.c.consolidated_at),
            )
        ).one()
    assert record is not None
    return (record.version, record.step_count, record.outcomes_trained, record.state, *marks)


@pytest.fixture
def failing_commit() -> Iterator[Callable[[], None]]:
    """Arm a failure at the next ORM commit (the commit itself fails, after training)."""
    armed = {"on": False}

    def boom(_session: Session) -> None:
        if armed["on"]:
            armed["on"] = False
            raise RuntimeError("commit failed")

    event.listen(Session, "before_commit", boom)
    try:
        yield lambda: armed.update(on=True)
    finally:
        event.remove(Session, "before_commit", boom)


def test_online_crash_after_training(svc: TrainingService, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _ingest(svc, "zeus", 3)
    svc.train_from_outcome(ids[0])
    more = _ingest(svc, "zeus", 4, start=10)
    before = _snapshot(svc, "zeus")
    real = timescales.train_from_outcome

    def trained_then_crashed(kernel: Any, batch: Any) -> dict[str, Any]:
        real(kernel, batch)
        raise SystemExit("killed")  # not even an Exception: the rollback still happens

    monkeypatch.setattr(timescales, "train_from_outcome", trained_then_crashed)
    with pytest.raises(SystemExit):
        svc.train_from_outcome(more[1])
    assert _snapshot(svc, "zeus") == before
    monkeypatch.setattr(timescales, "train_from_outcome", real)
    assert svc.train_from_outcome(more[1])["coalesced"] == 4


def test_online_commit_failure(svc: TrainingService, failing_commit: Callable[[], None]) -> None:
    ids = _ingest(svc, "zeus", 3)
    svc.get_kernel("zeus")
    before = _snapshot(svc, "zeus")
    failing_commit()
    with pytest.raises(RuntimeError, match="commit failed"):
        svc.train_from_outcome(ids[0])
    assert _snapshot(svc, "zeus") == before
    result = svc.train_from_outcome(ids[0])
    assert result["status"] == "success"
    assert result["step_count"] == 1


def test_hourly_crash_in_second_chunk_keeps_first(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(svc, "hera", 30)
    svc.hourly_chunk = 20
    real = timescales.train_batch
    calls = {"n": 0}

    def crash_on_third(kernel: Any, batch: Any, epochs: int = 3) -> dict[str, Any]:
        calls["n"] += 1  # chunk 1: god + shadow; chunk 2: god, then crash on the shadow
        result = real(kernel, batch, epochs=epochs)
        if calls["n"] == 4:
            raise RuntimeError("lost the worker")
        return result

    monkeypatch.setattr(timescales, "train_batch", crash_on_third)
    with pytest.raises(RuntimeError):
        svc.train_hourly_batch("hera")
    snap = _snapshot(svc, "hera")
    assert snap[5] == 20  # first chunk committed, second rolled back
    assert snap[0] == 2  # hera: created (1) + chunk 1
    monkeypatch.setattr(timescales, "train_batch", real)
    assert svc.train_hourly_batch("hera")["batch_size"] == 10
    assert _snapshot(svc, "hera")[5] == 30


def test_consolidation_commit_failure(
    svc: TrainingService, failing_commit: Callable[[], None]
) -> None:
    _ingest(svc, "apollo", 12)
    svc.get_kernel("apollo")
    before = _snapshot(svc, "apollo")
    failing_commit()
    with pytest.raises(RuntimeError):
        svc.train_nightly_consolidation("apollo")
    assert _snapshot(svc, "apollo") == before
    assert svc.train_nightly_consolidation("apollo")["outcomes"] == 12


def test_duplicates_are_no_ops(svc: TrainingService) -> None:
    item = OutcomeIn(god_name="ares", prompt="p", response="r", success=True, outcome_key="k-1")
    first = ingest(svc, [item])
    assert ingest(svc, [item]).duplicates == 1
    assert svc.train_from_outcome(first.outcome_ids[0])["status"] == "success"
    before = _snapshot(svc, "ares")
    assert svc.train_from_outcome(first.outcome_ids[0])["status"] == "duplicate"
    assert svc.train_hourly_batch("ares")["batch_size"] == 1
    assert svc.train_hourly_batch("ares")["status"] == "skipped"
    after = _snapshot(svc, "ares")
    assert after[2] == before[2] == 1  # trained online once
    assert after[5] == 1
