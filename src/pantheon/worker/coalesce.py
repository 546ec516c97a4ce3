"""Celery-mode sending: :class:`CeleryBackend` publishes tasks, and keeps one pending
online-training task per god with the per-god flags of :class:`PendingFlags`.

The web sends ``train_from_outcome_task`` for a new outcome only when it can set
``pantheon:pending:<god>`` (``SET NX PX … GET``: one round trip that either sets the flag
or returns the pending task's id; Redis 7.0 or later, https://redis.io/docs/latest/commands/set/);
the task deletes the flag *before* it claims the god's pending rows. Why nothing is missed:
a dispatch is skipped only because the flag is set, and it is tried after its outcome
committed. The flag's owner task deletes it later than that failed ``SET`` (it still
existed then), and claims after the delete, so its claim runs after the skipped outcome
committed and sees it. A flag that outlives a lost task expires after
``PANTHEON_TRAIN_DISPATCH_COALESCE_SECONDS``; the outbox sweep, which sends regardless of
the flag, still trains anything left behind.

Every Redis error means "not skipped": the dispatch is sent, the clear is skipped (the
flag then only expires), so Redis trouble can cost extra tasks, never a lost outcome.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping

import redis
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from pantheon.config import Settings
from pantheon.worker import queues
from pantheon.worker.broker import shared_redis_url
from pantheon.worker.queues import DispatchMode, DispatchResult

log = logging.getLogger(__name__)

KEY_PREFIX = "pantheon:pending:"
#: Seconds a flag operation may take before it counts as failed (then: not skipped).
REDIS_TIMEOUT = 0.5
#: One quick retry of a publish, then the caller falls back (the outcome is stored).
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}


def pending_key(god: str) -> str:
    return KEY_PREFIX + god


class PendingFlags:
    """``SET NX PX GET`` / ``DEL`` of the per-god flags; the client is built on first use."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self.ttl = settings.train_dispatch_coalesce_seconds
        self._url = shared_redis_url(settings)
        self._client = client
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def _redis(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                self._client = redis.Redis.from_url(
                    self._url,
                    socket_connect_timeout=REDIS_TIMEOUT,
                    socket_timeout=REDIS_TIMEOUT,
                )
            return self._client

    def claim(self, god: str, task_id: str) -> str | None:
        """Set the god's flag to ``task_id``; ``None`` if set (send the task), else the id
        of the task already pending: skip the send."""
        if not self.enabled:
            return None
        ttl_ms = max(1, round(self.ttl * 1000))
        try:
            holder = self._redis().set(pending_key(god), task_id, nx=True, px=ttl_ms, get=True)
        except Exception as exc:  # Redis trouble: send the task (never lose an outcome)
            log.warning("pending flag of %s unavailable (%s); sending anyway", god, exc)
            return None
        if holder is None:
            return None
        return holder.decode() if isinstance(holder, bytes) else str(holder)

    def clear(self, god: str) -> None:
        """Delete the god's flag (a task about to claim; a send that failed)."""
        if not self.enabled:
            return
        try:
            self._redis().delete(pending_key(god))
        except SoftTimeLimitExceeded:  # the task's time is up: let it end
            raise
        except Exception as exc:  # the flag expires on its own after ``ttl``
            log.warning("could not clear the pending flag of %s: %s", god, exc)


class CeleryBackend:
    """Publishes tasks; an online task whose god already has one pending is not sent."""

    def __init__(self, app: Callable[[], Celery], flags: PendingFlags) -> None:
        self._app = app
        self.flags = flags

    def publish(
        self, task_name: str, kwargs: Mapping[str, object], *, god: str | None = None
    ) -> DispatchResult:
        """Send ``task_name``; with ``god``, only when no online task of that god is pending.
        A failed send clears the god's flag (no task stands behind it) and raises."""
        queue = queues.queue_for(task_name)
        task_id = str(uuid.uuid4())
        if god is not None:
            holder = self.flags.claim(god, task_id)
            if holder is not None:
                return DispatchResult(holder or None, DispatchMode.CELERY, None, queue, True)
        try:
            self._app().send_task(
                task_name,
                kwargs=dict(kwargs),
                queue=queue,
                task_id=task_id,
                retry=True,
                retry_policy=PUBLISH_RETRY_POLICY,
            )
        except BaseException:
            if god is not None:  # later outcomes of the god must send
                self.flags.clear(god)
            raise
        return DispatchResult(task_id, DispatchMode.CELERY, None, queue)

    def follow_up(self, god: str, outcome_id: int) -> str | None:
        """One more online task for ``god``'s backlog unless one is pending (a worker's
        drain ran out of time); ``None`` when none was sent."""
        try:
            sent = self.publish(
                queues.TRAIN_FROM_OUTCOME, {"outcome_id": outcome_id, "god_name": god}, god=god
            )
        except SoftTimeLimitExceeded:  # the task's time is up: let it end
            raise
        except Exception as exc:  # the outbox sweep still trains the backlog
            log.warning("follow-up online task for %s not sent: %s", god, exc)
            return None
        return None if sent.skipped_for_pending else sent.task_id
