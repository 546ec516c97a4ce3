from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery.schedules import crontab
from celery.schedules import schedule as interval

from pantheon.errors import ScheduleError
from pantheon.worker import queues
from pantheon.worker.schedule import JOBS, Expression, beat_schedule, describe, parse_slot

pytestmark = pytest.mark.unit

T = datetime(2026, 11, 28, 12, 34, 56, tzinfo=UTC)


def test_seed_jobs_and_defaults(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    by_name = {job.name: job for job in JOBS}
    assert by_name["hourly_batch"].task == queues.HOURLY_BATCH_ALL
    assert by_name["nightly_consolidation"].task == queues.NIGHTLY_ALL
    assert by_name["shadow_sync"].task == queues.SYNC_SHADOWS
    assert by_name["checkpoint_cleanup"].task == queues.CLEANUP_CHECKPOINTS
    assert [
        by_name[n].catch_up_cap
        for n in ("hourly_batch", "nightly_consolidation", "shadow_sync", "checkpoint_cleanup")
    ] == [24, 3, 6, 1]
    assert all(job.why for job in JOBS)
    entries = beat_schedule(settings)
    assert entries["nightly_consolidation"]["schedule"] == crontab(minute="0", hour="3")
    assert entries["checkpoint_cleanup"]["schedule"] == crontab(minute="0", hour="4")
    assert entries["shadow_sync"]["schedule"] == crontab(minute="0", hour="*/4")
    assert entries["hourly_batch"]["options"] == {"queue": "training_batch"}


def test_crontab_slots() -> None:
    hourly = Expression("0 * * * *")
    assert hourly.slot_at(T) == T.replace(minute=0, second=0)
    assert hourly.slot_at(T.replace(minute=0, second=0)) == T.replace(minute=0, second=0)
    assert hourly.next_after(T) == T.replace(hour=13, minute=0, second=0)
    nightly = Expression("0 3 * * *")
    assert nightly.slot_at(T) == datetime(2026, 11, 28, 3, tzinfo=UTC)
    assert nightly.previous(datetime(2026, 11, 28, 3, tzinfo=UTC)) == datetime(
        2026, 11, 27, 3, tzinfo=UTC
    )


def test_every_n_slots_fall_on_multiples_since_the_epoch() -> None:
    every = Expression("every:7")
    slot = every.slot_at(T)
    assert int(slot.timestamp()) % 7 == 0
    assert slot <= T < slot + timedelta(seconds=7)
    assert every.next_after(T) == slot + timedelta(seconds=7)
    assert isinstance(every.celery_schedule(), interval)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "every:",
        "every:0",
        "every:-3",
        "every:1.5",
        "* * * *",
        "0 * * * * *",
        "61 * * * *",
        "banana",
        "0 25 * * *",
    ],
)
def test_bad_expressions_raise_schedule_error(text: str) -> None:
    with pytest.raises(ScheduleError):
        Expression(text)


def test_settings_override_and_bad_setting(make_settings) -> None:  # type: ignore[no-untyped-def]
    entries = beat_schedule(make_settings(schedule_hourly="every:2"))
    assert entries["hourly_batch"]["schedule"].run_every == timedelta(seconds=2)
    with pytest.raises(ScheduleError, match="5-field"):
        beat_schedule(make_settings(schedule_nightly="3am"))


def test_covered_slots_after_downtime_are_capped() -> None:
    hourly = Expression("0 * * * *")
    slot = datetime(2026, 11, 28, 12, tzinfo=UTC)
    last = slot - timedelta(hours=5)
    covered = hourly.covered(slot, last, cap=24)
    assert covered == [last + timedelta(hours=h) for h in range(1, 6)]
    assert len(hourly.covered(slot, slot - timedelta(days=3), cap=24)) == 24
    assert hourly.covered(slot, None, cap=24) == [slot]
    assert hourly.covered(slot, slot - timedelta(hours=1), cap=24) == [slot]


def test_count_between_and_describe(make_settings) -> None:  # type: ignore[no-untyped-def]
    hourly = Expression("0 * * * *")
    assert hourly.count_between(T - timedelta(hours=3), T) == 3
    assert Expression("every:10").count_between(T - timedelta(seconds=100), T) == 10
    now = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
    rows = describe(make_settings(), {"hourly_batch": datetime(2026, 11, 28, 8, tzinfo=UTC)}, now)
    hourly_row = next(r for r in rows if r["job"] == "hourly_batch")
    assert hourly_row["missed_slots"] == 3  # 09:00, 10:00, 11:00 (12:00 is the current slot)
    assert hourly_row["next_run"] == "2026-11-28T13:00:00+00:00"
    assert next(r for r in rows if r["job"] == "shadow_sync")["last_success"] is None


def test_parse_slot() -> None:
    assert parse_slot("2026-11-28T12:00:00+00:00") == datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert parse_slot("2026-11-28T12:00:00").tzinfo is not None
    with pytest.raises(ScheduleError):
        parse_slot("yesterday")
