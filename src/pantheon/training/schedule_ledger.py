"""``schedule_runs`` as the ledger of scheduled slots (:mod:`pantheon.worker.slots`
defines the protocol and the once-per-slot rule that uses it)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from pantheon.clock import utcnow
from pantheon.store.db import Database
from pantheon.store.models import schedule_runs as t
from pantheon.store.schedule_runs import ScheduleRuns

log = logging.getLogger(__name__)


class StoreLedger:
    """:class:`SlotLedger` over the store's ``ScheduleRuns`` repository.

    A claim succeeds for a new slot, for a slot whose last attempt failed (a retry), and
    for a slot still ``running`` that is dead: either it is held by the same task id (the
    message was redelivered because its worker died) or it has been running longer than
    ``stale_after`` (the hard time limit ends any live run sooner).
    """

    def __init__(self, database: Database, stale_after: float) -> None:
        self.database = database
        self.runs = ScheduleRuns(database)
        self.stale_after = stale_after

    def claim(self, job: str, slot: datetime, owner: str | None = None) -> bool:
        if self.runs.claim_slot(job, slot) or self.runs.retry_slot(job, slot):
            self._set_owner(job, slot, owner)
            return True
        return self._take_over_dead(job, slot, owner)

    def _set_owner(self, job: str, slot: datetime, owner: str | None) -> None:
        if owner is None:
            return
        with self.database.session() as session:
            session.execute(
                sa.update(t)
                .where(t.c.job == job, t.c.slot == slot.astimezone(UTC))
                .values(result={"owner": owner})
            )

    def _take_over_dead(self, job: str, slot: datetime, owner: str | None) -> bool:
        now = utcnow()
        where = (t.c.job == job, t.c.slot == slot.astimezone(UTC), t.c.status == "running")
        with self.database.session() as session:
            row = session.execute(sa.select(t.c.started_at, t.c.result).where(*where)).first()
            if row is None:
                return False
            held_by = row.result.get("owner") if isinstance(row.result, dict) else None
            redelivered = owner is not None and held_by == owner
            stale = row.started_at < now - timedelta(seconds=self.stale_after)
            if not (redelivered or stale):
                return False
            result = session.execute(
                sa.update(t)
                .where(*where, t.c.started_at == row.started_at)
                .values(started_at=now, attempts=t.c.attempts + 1, result={"owner": owner})
            )
            taken = int(getattr(result, "rowcount", 0) or 0) == 1
        if taken:
            log.warning(
                "%s slot %s: its run died (%s); this delivery takes over",
                job,
                slot,
                "redelivered" if redelivered else "stale",
            )
        return taken

    def finish(
        self,
        job: str,
        slot: datetime,
        *,
        status: str,
        result: dict[str, object] | None = None,
        error: str | None = None,
    ) -> None:
        self.runs.finish_slot(job, slot, status, result=result, error=error)

    def last_success(self, job: str) -> datetime | None:
        return self.runs.last_success(job)
