from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pantheon.worker import queues
from pantheon.worker.dispatch import Dispatcher
from pantheon.worker.embedded import EmbeddedScheduler
from tests.fakes.service import FakeService

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def dispatch(self, task: str, **kwargs: Any) -> None:
        self.sent.append((task, kwargs))

    def beat_alive(self) -> bool:
        return False


def test_fires_each_job_once_per_slot(make_settings) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 11, 28, 12, 0, 5, tzinfo=UTC))
    recorder = Recorder()
    scheduler = EmbeddedScheduler(make_settings(), recorder, clock=clock)
    first = scheduler.tick()
    assert {job for job, _ in first} == {
        "hourly_batch",
        "nightly_consolidation",
        "shadow_sync",
        "checkpoint_cleanup",
        "outbox_sweep",
    }
    assert scheduler.tick() == []
    clock.now += timedelta(minutes=1)
    assert [job for job, _ in scheduler.tick()] == ["outbox_sweep"]
    clock.now += timedelta(hours=1)
    fired = dict(scheduler.tick())
    assert fired["hourly_batch"] == datetime(2026, 11, 28, 13, tzinfo=UTC)
    hourly = [kw for task, kw in recorder.sent if task == queues.HOURLY_BATCH_ALL]
    assert [kw["slot"] for kw in hourly] == [
        "2026-11-28T12:00:00+00:00",
        "2026-11-28T13:00:00+00:00",
    ]
    assert all(kw["wait"] is False for _, kw in recorder.sent)


def test_stays_quiet_while_beat_holds_the_lock(make_settings) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    scheduler = EmbeddedScheduler(make_settings(), recorder, beat_alive=lambda: True)
    assert scheduler.tick() == []
    assert recorder.sent == []


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_missed_hours_give_one_catch_up_run(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    service = FakeService(tmp_path / "fake.db")
    settings = make_settings(task_mode="sync")
    dispatcher = Dispatcher(settings, service)
    clock = Clock(datetime(2026, 11, 28, 8, 0, 1, tzinfo=UTC))
    EmbeddedScheduler(settings, dispatcher, clock=clock, beat_alive=lambda: False).tick()
    _wait_for(lambda: len(service.slot_ledger.runs("hourly_batch")) == 1)
    # The process was down for five hours; a new one starts at 13:00:01.
    clock.now = datetime(2026, 11, 28, 13, 0, 1, tzinfo=UTC)
    restarted = EmbeddedScheduler(settings, dispatcher, clock=clock, beat_alive=lambda: False)
    restarted.tick()
    restarted.tick()
    _wait_for(lambda: len(service.slot_ledger.runs("hourly_batch")) == 2)
    _wait_for(lambda: service.slot_ledger.runs("hourly_batch")[-1]["status"] == "success")
    runs = service.slot_ledger.runs("hourly_batch")
    assert [r["slot"] for r in runs] == ["2026-11-28T08:00:00+00:00", "2026-11-28T13:00:00+00:00"]
    assert runs[-1]["result"]["covered_slots"] == [
        f"2026-11-28T{h:02d}:00:00+00:00" for h in range(9, 14)
    ]
    assert len(service.calls("train_hourly_batch_all")) == 2
