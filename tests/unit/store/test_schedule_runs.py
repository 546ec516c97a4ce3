from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pantheon.errors import ValidationError
from pantheon.store.db import Database
from pantheon.store.migrate import ensure_schema
from pantheon.store.schedule_runs import ScheduleRuns

pytestmark = pytest.mark.unit


@pytest.fixture
def runs(make_settings, tmp_path: Path) -> Iterator[ScheduleRuns]:  # type: ignore[no-untyped-def]
    settings = make_settings(database_url_raw=f"sqlite:///{tmp_path / 's.db'}")
    ensure_schema(settings)
    db = Database(settings)
    yield ScheduleRuns(db)
    db.dispose()


SLOT = datetime(2026, 11, 28, 3, tzinfo=UTC)


def test_a_slot_is_claimed_once(runs: ScheduleRuns) -> None:
    assert runs.claim_slot("hourly", SLOT) is True
    assert runs.claim_slot("hourly", SLOT) is False
    # The same instant in another zone is the same slot.
    assert runs.claim_slot("hourly", SLOT.astimezone(timezone(timedelta(hours=5)))) is False
    assert runs.claim_slot("nightly", SLOT) is True
    assert runs.claim_slot("hourly", SLOT + timedelta(hours=1)) is True


def test_finish_and_last_success(runs: ScheduleRuns) -> None:
    assert runs.last_success("hourly") is None
    for h in range(3):
        runs.claim_slot("hourly", SLOT + timedelta(hours=h))
    runs.finish_slot("hourly", SLOT, "success", {"rows": 3})
    runs.finish_slot("hourly", SLOT + timedelta(hours=1), "success", {"rows": 1})
    runs.finish_slot("hourly", SLOT + timedelta(hours=2), "failed", error="boom")
    assert runs.last_success("hourly") == SLOT + timedelta(hours=1)
    assert runs.last_slot("hourly") == SLOT + timedelta(hours=2)
    row = runs.get("hourly", SLOT)
    assert row is not None
    assert row["status"] == "success"
    assert row["result"] == {"rows": 3}
    assert row["duration_s"] is not None
    assert row["duration_s"] >= 0
    recent = runs.recent("hourly")
    assert [r["slot"] for r in recent] == [SLOT + timedelta(hours=h) for h in (2, 1, 0)]
    assert recent[0]["error"] == "boom"


def test_failed_slot_can_be_retried_once(runs: ScheduleRuns) -> None:
    runs.claim_slot("cleanup", SLOT)
    assert runs.retry_slot("cleanup", SLOT) is False  # still running
    runs.finish_slot("cleanup", SLOT, "failed", error="db down")
    assert runs.retry_slot("cleanup", SLOT) is True
    assert runs.retry_slot("cleanup", SLOT) is False
    row = runs.get("cleanup", SLOT)
    assert row is not None
    assert row["attempts"] == 2
    assert row["status"] == "running"


def test_bad_input_is_refused(runs: ScheduleRuns) -> None:
    with pytest.raises(ValidationError):
        runs.claim_slot("hourly", datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        runs.finish_slot("hourly", SLOT, "running")
