"""Once-per-slot and catch-up against the real ``schedule_runs`` table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from pantheon.config import Settings
from pantheon.worker import queues
from pantheon.worker.dispatch import Dispatcher
from pantheon.worker.embedded import EmbeddedScheduler
from pantheon.worker.schedule import JOBS_BY_NAME, Expression
from pantheon.worker.slots import StoreLedger, run_in_slot

pytestmark = pytest.mark.integration

NOON = datetime(2026, 11, 28, 12, tzinfo=UTC)
HOURLY = JOBS_BY_NAME["hourly_batch"]


def test_claims_are_unique_failed_slots_reopen_and_dead_runs_are_taken_over(
    real_service: Any,
) -> None:
    ledger = StoreLedger(real_service.database, stale_after=3600)
    assert ledger.claim("hourly_batch", NOON)
    assert not ledger.claim("hourly_batch", NOON)  # running: a duplicate delivery
    ledger.finish("hourly_batch", NOON, status="failed", error="boom")
    assert ledger.claim("hourly_batch", NOON)  # a retry reopens a failed slot
    assert not ledger.claim("hourly_batch", NOON)
    impatient = StoreLedger(real_service.database, stale_after=0)
    assert impatient.claim("hourly_batch", NOON)  # its worker died: take it over
    ledger.finish("hourly_batch", NOON, status="success", result={"status": "success"})
    assert not impatient.claim("hourly_batch", NOON)
    assert ledger.last_success("hourly_batch") == NOON


def test_missed_hours_give_one_run_covering_them(real_service: Any) -> None:
    ledger = real_service.slot_ledger
    expr = Expression("0 * * * *")
    ran: list[int] = []

    def work() -> dict[str, Any]:
        ran.append(1)
        return dict(real_service.train_hourly_batch_all())

    run_in_slot(HOURLY, expr, NOON - timedelta(hours=7), ledger, work)
    result = run_in_slot(HOURLY, expr, NOON, ledger, work)
    assert len(ran) == 2
    assert len(cast(list[str], result["covered_slots"])) == 7
    assert isinstance(ledger, StoreLedger)
    stored = ledger.runs.get("hourly_batch", NOON)
    assert stored is not None
    assert stored["status"] == "success"
    assert cast(dict[str, Any], stored["result"])["covered_slots"] == result["covered_slots"]


class _Collect:
    """Stands in for the dispatcher inside the scheduler; the test runs what it collected."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def dispatch(self, task: str, **kwargs: Any) -> None:
        kwargs.pop("wait", None)
        self.sent.append((task, kwargs))

    def beat_alive(self) -> bool:
        return False


def _tick_and_run(settings: Settings, dispatcher: Dispatcher, now: datetime) -> dict[str, Any]:
    collect = _Collect()
    EmbeddedScheduler(settings, collect, clock=lambda: now).tick()
    return {
        task: dispatcher.run_now(task, f"{task}@{now}", kwargs) for task, kwargs in collect.sent
    }


def test_embedded_scheduler_catches_up_once_with_a_controlled_clock(
    real_settings: Settings, real_service: Any
) -> None:
    dispatcher = Dispatcher(real_settings, real_service)
    _tick_and_run(real_settings, dispatcher, datetime(2026, 11, 28, 2, 0, 1, tzinfo=UTC))
    # down for twelve hours
    results = _tick_and_run(real_settings, dispatcher, datetime(2026, 11, 28, 14, 0, 1, tzinfo=UTC))
    assert len(results[queues.HOURLY_BATCH_ALL]["covered_slots"]) == 12
    assert results[queues.NIGHTLY_ALL]["covered_slots"] == ["2026-11-28T03:00:00+00:00"]
    assert results[queues.SYNC_SHADOWS]["covered_slots"] == [
        "2026-11-28T04:00:00+00:00",
        "2026-11-28T08:00:00+00:00",
        "2026-11-28T12:00:00+00:00",
    ]
    assert results[queues.CLEANUP_CHECKPOINTS]["covered_slots"] == ["2026-11-28T04:00:00+00:00"]
    again = dispatcher.run_now(queues.HOURLY_BATCH_ALL, "v", {"slot": "2026-11-28T14:00:00Z"})
    assert again["status"] == "skipped"


def test_a_redelivered_message_takes_over_its_own_dead_claim(real_service: Any) -> None:
    ledger = StoreLedger(real_service.database, stale_after=3600)
    assert ledger.claim("shadow_sync", NOON, owner="task-a")
    assert not ledger.claim("shadow_sync", NOON, owner="task-b")  # another message: no
    assert not ledger.claim("shadow_sync", NOON)
    assert ledger.claim("shadow_sync", NOON, owner="task-a")  # its worker died: redelivered
    run = ledger.runs.get("shadow_sync", NOON)
    assert run is not None
    assert run["attempts"] == 2
    assert run["status"] == "running"
