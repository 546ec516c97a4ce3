"""Once per slot: a scheduled run claims (job, slot) in ``schedule_runs`` before it works.

The claim is the store's unique (job, slot) row; a second delivery of the same slot (a
second Beat, a redelivered message, the embedded scheduler and Beat overlapping) finds
the row taken and returns ``status: "skipped"`` without touching anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from pantheon.worker.schedule import Expression, Job

log = logging.getLogger(__name__)


class SlotLedger(Protocol):
    """What a scheduled run needs from ``schedule_runs``."""

    def claim(self, job: str, slot: datetime) -> bool:
        """Take (job, slot); False when another run holds it or it already succeeded."""

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
    """:class:`SlotLedger` over the store's ``claim_slot`` / ``finish_slot`` / ``last_success``."""

    def __init__(self, database: Any) -> None:
        self.database = database

    def claim(self, job: str, slot: datetime) -> bool:
        from pantheon.store import schedule_runs

        return bool(schedule_runs.claim_slot(self.database, job, slot))

    def finish(
        self,
        job: str,
        slot: datetime,
        *,
        status: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        from pantheon.store import schedule_runs

        schedule_runs.finish_slot(
            self.database, job, slot, status=status, result=result, error=error
        )

    def last_success(self, job: str) -> datetime | None:
        from pantheon.store import schedule_runs

        value = schedule_runs.last_success(self.database, job)
        return value if isinstance(value, datetime) or value is None else None


def run_in_slot(
    job: Job,
    expr: Expression,
    slot: datetime,
    ledger: SlotLedger,
    work: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run ``work`` once for ``slot``, covering the slots missed since the last success."""
    head = {"job": job.name, "slot": slot.isoformat()}
    last = ledger.last_success(job.name)
    if last is not None and slot <= last:
        log.info("%s slot %s already covered by the run for %s", job.name, slot, last)
        return {"status": "skipped", **head, "reason": f"covered by the run for {last}"}
    if not ledger.claim(job.name, slot):
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
    ledger.finish(job.name, slot, status="success", result=result)
    return result
