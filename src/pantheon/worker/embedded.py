"""The embedded scheduler: Beat's schedule, fired from a thread in the web process.

It runs in ``pantheon up`` and in ``pantheon serve`` when no Beat is alive (no Beat holds
the leader lock), sends the same tasks with the same ``slot`` keyword, and so obeys the
same once-per-slot rule: if Beat and this thread ever overlap, ``schedule_runs`` turns the
second run of a slot into a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.worker.schedule import JOBS, expressions

log = logging.getLogger(__name__)


class EmbeddedScheduler:
    """Fires each job once per slot through ``dispatcher.dispatch(task, slot=...)``."""

    def __init__(
        self,
        settings: Settings,
        dispatcher: Any,
        *,
        clock: Callable[[], datetime] = utcnow,
        beat_alive: Callable[[], bool | None] | None = None,
        interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.clock = clock
        self.interval = interval
        self._beat_alive = beat_alive if beat_alive is not None else dispatcher.beat_alive
        self._beat_checked = (-1e9, False)
        self.expressions = expressions(settings)
        self.last_sent: dict[str, datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat_is_alive(self) -> bool:
        """Beat's leader lock is held (checked at most every few seconds)."""
        checked_at, alive = self._beat_checked
        now = time.monotonic()
        if now - checked_at >= max(self.settings.mode_cache_seconds, 1.0):
            try:
                alive = bool(self._beat_alive())
            except Exception:  # Redis down: no Beat can be running either
                alive = False
            self._beat_checked = (now, alive)
        return alive

    def tick(self) -> list[tuple[str, datetime]]:
        """Send every job whose current slot was not sent yet; returns what was sent."""
        if self.beat_is_alive():
            return []
        now = self.clock()
        sent: list[tuple[str, datetime]] = []
        for job in JOBS:
            slot = self.expressions[job.name].slot_at(now)
            if self.last_sent.get(job.name) == slot:
                continue
            self.last_sent[job.name] = slot
            try:
                self.dispatcher.dispatch(job.task, wait=False, slot=slot.isoformat())
            except Exception:  # one job's failure must not stop the others' slots
                log.exception("embedded scheduler: sending %s for %s failed", job.name, slot)
                continue
            sent.append((job.name, slot))
        return sent

    def _loop(self) -> None:
        log.info(
            "embedded scheduler started: %s",
            ", ".join(f"{name} '{expr.text}'" for name, expr in self.expressions.items()),
        )
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep the thread alive; the next tick tries again
                log.exception("embedded scheduler tick failed")
            self._stop.wait(self.interval)
        log.info("embedded scheduler stopped")

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name="pantheon-embedded-scheduler", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
