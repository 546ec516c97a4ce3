"""Which queues live workers consume: the answer behind ``PANTHEON_TASK_MODE=auto``.

The broker is asked (``inspect active_queues``) at most every
``PANTHEON_MODE_CACHE_SECONDS``; a stale answer is served at once while a background
thread asks again, so a dead broker never slows a request down. Only the very first
question of a process waits for the broker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from celery import Celery

from pantheon.config import Settings
from pantheon.worker import queues
from pantheon.worker.broker import WorkerInfo, workers
from pantheon.worker.queues import DispatchMode

log = logging.getLogger(__name__)

#: A negative answer younger than this is not asked again by a health recheck.
RECHECK_AFTER = 0.5


class ModeProbe:
    """The cached answer to "which queues have a consumer", and the workers behind it."""

    def __init__(self, settings: Settings, app: Callable[[], Celery]) -> None:
        self.settings = settings
        self._app = app
        self._lock = threading.Lock()
        self._consumed: frozenset[str] | None = None
        #: The workers behind ``_consumed`` (one inspection answers both); None: broker down.
        self._workers: list[WorkerInfo] | None = None
        self._checked_at = 0.0
        self._refreshing = False

    def consumed_queues(self, *, refresh: bool = False) -> frozenset[str]:
        """Queues some live worker consumes; empty when the broker is down or none is."""
        known = self._consumed
        if not refresh and known is not None:
            stale = time.monotonic() - self._checked_at >= self.settings.mode_cache_seconds
            if stale:
                with self._lock:
                    start, self._refreshing = not self._refreshing, True
                if start:  # answer now, ask again in the background
                    threading.Thread(target=self.refresh, name="pantheon-mode", daemon=True).start()
            return known
        return self.refresh()

    def refresh(self) -> frozenset[str]:
        found = workers(self._app())
        consumed = frozenset(q for worker in found or () for q in worker["queues"])
        with self._lock:
            changed = self._consumed is not None and consumed != self._consumed
            self._consumed = consumed
            self._workers = found
            self._checked_at = time.monotonic()
            self._refreshing = False
        if changed:
            log.info("task mode: queues consumed by workers now %s", sorted(consumed) or "none")
        return consumed

    def mode_for(self, task_name: str) -> DispatchMode:
        if self.settings.task_mode != "auto":
            return DispatchMode(self.settings.task_mode)
        consumed = queues.queue_for(task_name) in self.consumed_queues()
        return DispatchMode.CELERY if consumed else DispatchMode.SYNC

    def celery_available(self, *, recheck: bool = False) -> bool:
        """True when every queue has a consumer (the legacy ``is_celery_available``).

        ``recheck`` (health checks, off the request path) asks the workers again at once
        when the cached answer says a queue has no consumer, so a worker that just became
        ready is seen now rather than a cache period later.
        """
        covered = set(queues.QUEUES) <= self.consumed_queues()
        asked_recently = time.monotonic() - self._checked_at < RECHECK_AFTER
        if not covered and recheck and not asked_recently:
            covered = set(queues.QUEUES) <= self.consumed_queues(refresh=True)
        return covered

    def workers(self) -> list[WorkerInfo] | None:
        """Live workers and their queues: the answer the mode decision last used (so health
        never says "celery available" beside "0 workers"); None when the broker is down."""
        if self._consumed is None:
            self.refresh()
        with self._lock:
            return None if self._workers is None else list(self._workers)

    def mark_down(self) -> None:
        with self._lock:
            self._consumed = frozenset()
            self._workers = None
            self._checked_at = time.monotonic()
