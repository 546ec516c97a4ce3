"""Beat's scheduler: celery-redbeat's leader lock, plus the slot each message carries.

Only the Beat holding the Redis lock (``redbeat_lock_timeout`` = ``PANTHEON_BEAT_LOCK_TIMEOUT``)
sends anything; a second Beat waits as a hot standby and takes over when the lock expires.
Each message carries ``slot``, the UTC instant it is for, so the worker claims exactly that
(job, slot) in ``schedule_runs`` and a duplicate is a no-op.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery.signals import beat_init
from redbeat import RedBeatScheduler

from pantheon.worker.schedule import JOBS_BY_NAME, expression_for

log = logging.getLogger(__name__)


class PantheonScheduler(RedBeatScheduler):  # type: ignore[misc]
    """RedBeat with a ``slot`` keyword added to every scheduled message."""

    def slot_kwargs(self, entry: Any, now: datetime) -> dict[str, Any]:
        job = JOBS_BY_NAME.get(entry.name)
        kwargs = dict(entry.kwargs or {})
        if job is None:  # an entry someone added by hand: send it as it is
            return kwargs
        settings = self.app.pantheon_settings
        kwargs["slot"] = expression_for(job, settings).slot_at(now).isoformat()
        return kwargs

    def apply_async(
        self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        if advance:
            entry = self.reserve(entry)  # saved to Redis before the slot is stamped on
        original = entry.kwargs
        entry.kwargs = self.slot_kwargs(entry, self.app.now())
        log.info("beat: sending %s for slot %s", entry.task, entry.kwargs.get("slot"))
        try:
            return super().apply_async(entry, producer=producer, advance=False, **kwargs)
        finally:
            entry.kwargs = original


def _announce(sender: Any = None, **_: Any) -> None:
    scheduler = getattr(sender, "scheduler", None)
    if not isinstance(scheduler, PantheonScheduler):
        return
    settings = scheduler.app.pantheon_settings
    for name, job in JOBS_BY_NAME.items():
        log.info(
            "beat: %s -> %s every '%s' (%s)",
            name,
            job.task,
            expression_for(job, settings).text,
            job.why,
        )


beat_init.connect(_announce, weak=False)
