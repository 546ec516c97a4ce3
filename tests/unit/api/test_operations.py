"""Health's rule for a silent Beat: a job that ran before has an overdue, unrecorded slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pantheon.api.routes.operations import overdue_jobs

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)


def row(job: str, current: datetime, last_slot: datetime | None) -> dict[str, Any]:
    last_run = None if last_slot is None else {"slot": last_slot.isoformat(), "status": "success"}
    return {"job": job, "current_slot": current.isoformat(), "last_run": last_run}


def test_an_overdue_slot_of_a_job_that_ran_before_is_late() -> None:
    rows = [row("hourly_batch", NOW.replace(minute=0), NOW - timedelta(hours=1, minutes=30))]
    assert overdue_jobs(rows, NOW, silence=900) == ["hourly_batch"]


def test_within_the_silence_window_nothing_is_late() -> None:
    rows = [row("hourly_batch", NOW.replace(minute=0), NOW - timedelta(hours=1, minutes=30))]
    assert overdue_jobs(rows, NOW, silence=3600) == []


def test_a_recorded_current_slot_is_not_late() -> None:
    current = NOW.replace(minute=0)
    assert overdue_jobs([row("hourly_batch", current, current)], NOW, silence=60) == []


def test_jobs_that_never_ran_and_the_outbox_sweep_are_not_judged() -> None:
    old = NOW - timedelta(days=2)
    rows = [
        row("nightly_consolidation", NOW - timedelta(hours=9), None),
        row("outbox_sweep", NOW - timedelta(hours=1), old),
    ]
    assert overdue_jobs(rows, NOW, silence=60) == []
