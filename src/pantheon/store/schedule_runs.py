"""The log of scheduled jobs: one row per (job, slot), so a slot runs once.

``claim_slot`` inserts the (job, slot) row and answers whether this caller won it; a
second Beat, a redelivered message or a catch-up that overlaps gets ``False`` and does
nothing. The schedule logic itself lives in ``pantheon.worker.schedule``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from pantheon.clock import utcnow
from pantheon.errors import ValidationError
from pantheon.store.db import Database
from pantheon.store.models import RUN_STATUSES, schedule_runs

log = logging.getLogger(__name__)


class ScheduleRunRecord(TypedDict):
    """One ``schedule_runs`` row (a test checks the keys against the table)."""

    id: int
    job: str
    slot: datetime
    status: str
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    result: dict[str, Any] | None
    error: str | None


def _utc(slot: datetime) -> datetime:
    if slot.tzinfo is None:
        raise ValidationError("a schedule slot must be a timezone-aware UTC datetime")
    return slot.astimezone(UTC)


class ScheduleRuns:
    """Repository over ``schedule_runs``; each method is its own short transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def claim_slot(self, job: str, slot: datetime) -> bool:
        """Record that ``job`` runs for ``slot``; False when that slot was already claimed."""
        ins = postgresql.insert if self.database.is_postgresql else sqlite.insert
        now = utcnow()
        stmt = (
            ins(schedule_runs)
            .values(job=job, slot=_utc(slot), status="running", attempts=1, started_at=now)
            .on_conflict_do_nothing(index_elements=["job", "slot"])
            .returning(schedule_runs.c.id)
        )
        with self.database.session() as session:
            won = session.execute(stmt).first() is not None
        log.debug("claim_slot %s %s -> %s", job, slot, won)
        return won

    def retry_slot(self, job: str, slot: datetime) -> bool:
        """Re-open a *failed* slot for another attempt (True when this caller re-opened it)."""
        t = schedule_runs
        with self.database.session() as session:
            result = session.execute(
                sa.update(t)
                .where(t.c.job == job, t.c.slot == _utc(slot), t.c.status == "failed")
                .values(
                    status="running",
                    attempts=t.c.attempts + 1,
                    started_at=utcnow(),
                    finished_at=None,
                    error=None,
                )
            )
            return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]

    def finish_slot(
        self,
        job: str,
        slot: datetime,
        status: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        if status not in RUN_STATUSES or status == "running":
            raise ValidationError(f"finish status must be success, failed or skipped: {status!r}")
        t = schedule_runs
        now = utcnow()
        with self.database.session() as session:
            started = session.execute(
                sa.select(t.c.started_at).where(t.c.job == job, t.c.slot == _utc(slot))
            ).scalar_one_or_none()
            duration = (now - started).total_seconds() if started is not None else None
            session.execute(
                sa.update(t)
                .where(t.c.job == job, t.c.slot == _utc(slot))
                .values(
                    status=status,
                    finished_at=now,
                    duration_s=duration,
                    result=result,
                    error=error,
                )
            )

    def last_success(self, job: str) -> datetime | None:
        """The newest slot of ``job`` that finished successfully."""
        t = schedule_runs
        stmt = sa.select(sa.func.max(t.c.slot)).where(t.c.job == job, t.c.status == "success")
        with self.database.session(write=False) as session:
            value = session.execute(stmt).scalar_one_or_none()
        return value if isinstance(value, datetime) else _parse(value)

    def last_slot(self, job: str) -> datetime | None:
        """The newest slot of ``job`` recorded in any status."""
        t = schedule_runs
        with self.database.session(write=False) as session:
            value = session.execute(
                sa.select(sa.func.max(t.c.slot)).where(t.c.job == job)
            ).scalar_one_or_none()
        return value if isinstance(value, datetime) else _parse(value)

    def get(self, job: str, slot: datetime) -> ScheduleRunRecord | None:
        t = schedule_runs
        with self.database.session(write=False) as session:
            row = session.execute(
                sa.select(t).where(t.c.job == job, t.c.slot == _utc(slot))
            ).one_or_none()
        return None if row is None else cast(ScheduleRunRecord, dict(row._mapping))

    def recent(self, job: str | None = None, limit: int = 50) -> list[ScheduleRunRecord]:
        """Newest runs first."""
        t = schedule_runs
        stmt = sa.select(t).order_by(t.c.slot.desc(), t.c.id.desc()).limit(limit)
        if job is not None:
            stmt = stmt.where(t.c.job == job)
        with self.database.session(write=False) as session:
            return [cast(ScheduleRunRecord, dict(r._mapping)) for r in session.execute(stmt)]


def _parse(value: object) -> datetime | None:
    # SQLite hands back aggregate timestamps as text.
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
