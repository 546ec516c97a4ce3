"""Once per slot: a scheduled run claims (job, slot) in ``schedule_runs`` before it works.

The claim is the store's unique (job, slot) row; a second delivery of the same slot (a
second Beat, a redelivered message, the embedded scheduler and Beat overlapping) finds
the row taken and returns ``status: "skipped"`` without touching anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa

from pantheon.store.db import Database
from pantheon.store.models import schedule_runs as t
from pantheon.store.schedule_runs import ScheduleRuns
from pantheon.worker.schedule import Expression, Job

log = logging.getLogger(__name__)


class SlotLedger(Protocol):
    """What a scheduled run needs from ``schedule_runs``."""

    def claim(self, job: str, slot: datetime, owner: str | None = None) -> bool:
        """Take (job, slot) for ``owner`` (a task id); False when another live run holds
        it or it already succeeded."""

    def finish(
        self,
        job: str,
        slot: datetime,
        *,
        status: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record how the claimed run ended."""

    def last_success(self, job: str) -> datetime | None:
        """The newest slot of ``job`` that ran successfully."""


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
        now = datetime.now(UTC)
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
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self.runs.finish_slot(job, slot, status, result=result, error=error)

    def last_success(self, job: str) -> datetime | None:
        return self.runs.last_success(job)


def run_in_slot(
    job: Job,
    expr: Expression,
    slot: datetime,
    ledger: SlotLedger,
    work: Callable[[], dict[str, Any]],
    *,
    owner: str | None = None,
) -> dict[str, Any]:
    """Run ``work`` once for ``slot``, covering the slots missed since the last success.

    ``owner`` is the task id: a redelivery of the same message may take over its own
    dead claim."""
    head = {"job": job.name, "slot": slot.isoformat()}
    last = ledger.last_success(job.name)
    if last is not None and slot <= last:
        log.info("%s slot %s already covered by the run for %s", job.name, slot, last)
        return {"status": "skipped", **head, "reason": f"covered by the run for {last}"}
    if not ledger.claim(job.name, slot, owner):
        log.info("%s slot %s already claimed: duplicate delivery skipped", job.name, slot)
        return {"status": "skipped", **head, "reason": "slot already claimed"}
    covered = expr.covered(slot, last, job.catch_up_cap)
    if len(covered) > 1:
        log.info("%s catching up: one run for %d missed slots", job.name, len(covered))
    try:
        result = dict(work())
    except BaseException as exc:  # record every ending, then let the task policy decide
        ledger.finish(job.name, slot, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    result.update(head)
    result["covered_slots"] = [moment.isoformat() for moment in covered]
    # Some gods failed (reported in the result): logged as failed, so the next slot's run
    # covers this one again instead of counting it done.
    status = "failed" if result.get("status") == "error" else "success"
    ledger.finish(job.name, slot, status=status, result=result)
    return result
