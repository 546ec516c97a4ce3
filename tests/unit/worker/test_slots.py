from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pantheon.worker.schedule import JOBS_BY_NAME, Expression
from pantheon.worker.slots import run_in_slot
from tests.fakes.service import FakeDb, SqliteLedger

pytestmark = pytest.mark.unit

HOURLY = JOBS_BY_NAME["hourly_batch"]
NOON = datetime(2026, 11, 28, 12, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> SqliteLedger:
    return SqliteLedger(FakeDb(tmp_path / "fake.db"))


def _work(calls: list[int]) -> Any:
    def work() -> dict[str, Any]:
        calls.append(1)
        return {"status": "success", "kernels": 2}

    return work


def test_one_run_per_slot(ledger: SqliteLedger) -> None:
    calls: list[int] = []
    expr = Expression("0 * * * *")
    first = run_in_slot(HOURLY, expr, NOON, ledger, _work(calls))
    second = run_in_slot(HOURLY, expr, NOON, ledger, _work(calls))
    assert first["status"] == "success"
    assert first["covered_slots"] == [NOON.isoformat()]
    assert second["status"] == "skipped"
    assert len(calls) == 1
    assert [r["status"] for r in ledger.runs("hourly_batch")] == ["success"]


def test_missed_hours_give_one_run_covering_them(ledger: SqliteLedger) -> None:
    calls: list[int] = []
    expr = Expression("0 * * * *")
    run_in_slot(HOURLY, expr, NOON - timedelta(hours=6), ledger, _work(calls))
    result = run_in_slot(HOURLY, expr, NOON, ledger, _work(calls))
    assert len(calls) == 2
    assert result["covered_slots"] == [
        (NOON - timedelta(hours=h)).isoformat() for h in range(5, -1, -1)
    ]
    stored = ledger.runs("hourly_batch")[-1]
    assert stored["result"]["covered_slots"] == result["covered_slots"]


def test_a_stale_slot_older_than_the_last_success_is_skipped(ledger: SqliteLedger) -> None:
    calls: list[int] = []
    expr = Expression("0 * * * *")
    run_in_slot(HOURLY, expr, NOON, ledger, _work(calls))
    stale = run_in_slot(HOURLY, expr, NOON - timedelta(hours=1), ledger, _work(calls))
    assert stale["status"] == "skipped"
    assert len(calls) == 1


def test_a_failed_run_is_recorded_and_can_be_retried(ledger: SqliteLedger) -> None:
    expr = Expression("0 * * * *")

    def broken() -> dict[str, Any]:
        raise RuntimeError("engine exploded")

    with pytest.raises(RuntimeError):
        run_in_slot(HOURLY, expr, NOON, ledger, broken)
    run = ledger.runs("hourly_batch")[0]
    assert run["status"] == "failed"
    calls: list[int] = []
    assert run_in_slot(HOURLY, expr, NOON, ledger, _work(calls))["status"] == "success"
    assert ledger.runs("hourly_batch")[0]["attempts"] == 2


def test_a_run_with_failed_gods_is_logged_failed_and_covered_again(
    ledger: SqliteLedger,
) -> None:
    expr = Expression("0 * * * *")
    run_in_slot(HOURLY, expr, NOON - timedelta(hours=1), ledger, lambda: {"status": "success"})
    partial = run_in_slot(
        HOURLY, expr, NOON, ledger, lambda: {"status": "error", "failed": ["zeus"]}
    )
    assert partial["status"] == "error"
    assert ledger.runs("hourly_batch")[1]["status"] == "failed"
    later = NOON + timedelta(hours=1)
    result = run_in_slot(HOURLY, expr, later, ledger, lambda: {"status": "success"})
    assert result["covered_slots"] == [NOON.isoformat(), later.isoformat()]
