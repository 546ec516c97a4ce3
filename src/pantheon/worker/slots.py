"""Once per slot: a scheduled run claims (job, slot) in ``schedule_runs`` before it works.

The claim is the store's unique (job, slot) row; a second delivery of the same slot (a
second Beat, a redelivered message, the embedded scheduler and Beat overlapping) finds
the row taken and returns ``status: "skipped"`` without touching anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pantheon.training.schedule_ledger import StoreLedger
from pantheon.worker.schedule import Expression, Job

__all__ = ["SlotLedger", "StoreLedger", "run_in_slot"]

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
        result: dict[str, object] | None = None,
        error: str | None = None,
    ) -> None:
        """Record how the claimed run ended."""

    def last_success(self, job: str) -> datetime | None:
        """The newest slot of ``job`` that ran successfully."""


def run_in_slot(
    job: Job,
    expr: Expression,
    slot: datetime,
    ledger: SlotLedger,
    work: Callable[[], dict[str, object]],
    *,
    owner: str | None = None,
) -> dict[str, object]:
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
