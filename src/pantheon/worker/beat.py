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

import redis.exceptions
from celery.signals import beat_init
from redbeat import RedBeatScheduler
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, get_redis

from pantheon.config import Role
from pantheon.worker.schedule import JOBS_BY_NAME, expression_for
from pantheon.worker.startup import exit_if_unsafe

log = logging.getLogger(__name__)

#: Redis failures a Beat outlives: connection loss, or a lock that expired or changed hands
#: while Redis was away (a restarted Redis keeps nothing).
REDIS_BLIPS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.LockError,
)
#: Seconds between attempts while Redis is down or another Beat holds the lock.
RETRY_INTERVAL = 1.0


class PantheonScheduler(RedBeatScheduler):  # type: ignore[misc]
    """RedBeat with a ``slot`` keyword added to every scheduled message."""

    lock: Any

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        # Before redbeat's own set-up writes the schedule to Redis.
        exit_if_unsafe(getattr(app, "pantheon_settings", None), Role.BEAT)
        super().__init__(app, *args, **kwargs)

    def slot_kwargs(self, entry: Any, now: datetime) -> dict[str, Any]:
        job = JOBS_BY_NAME.get(entry.name)
        kwargs = dict(entry.kwargs or {})
        if job is None:  # an entry someone added by hand: send it as it is
            return kwargs
        settings = self.app.pantheon_settings
        kwargs["slot"] = expression_for(job, settings).slot_at(now).isoformat()
        return kwargs

    def tick(self, min: Any = min, **kwargs: Any) -> float:
        """RedBeat's tick, surviving Redis blips: redbeat lets them end the Beat process,
        which would silence every job (the outbox sweep included) until a restart."""
        try:
            if self.lock_key and self.lock is None and not self._acquire_lock():
                return RETRY_INTERVAL  # standby: another Beat leads
            interval: float = super().tick(min=min, **kwargs)
            return interval
        except REDIS_BLIPS as exc:
            log.warning("beat: Redis failed or the lock was lost (%s); retrying", exc)
            self.lock = None  # re-acquired (or left to the other Beat) on a later tick
            return RETRY_INTERVAL

    def _acquire_lock(self) -> bool:
        """Take the leader lock without waiting; on success re-install the schedule, which
        a restarted Redis no longer holds (slots claimed in the store keep runs single)."""
        client = get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=RETRY_INTERVAL)
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
        if not lock.acquire(blocking=False):
            return False
        self.lock = lock
        log.info("beat: acquired the leader lock")
        self.setup_schedule()
        return True

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
