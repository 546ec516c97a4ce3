"""Two backends behind one interface: Celery publishes a task, in-process runs it here.

Both take a task name and its keyword arguments and answer a :class:`DispatchResult`. The
in-process backend (the idea of dramatiq's ``StubBroker``) runs the same
:func:`pantheon.worker.tasks.run_task` a worker runs, with the same counters, so a task
behaves the same in ``celery`` and ``sync`` mode. Which backend takes a task is the
dispatcher's choice (:mod:`pantheon.worker.dispatch`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.errors import PantheonError, public_reason
from pantheon.worker import queues
from pantheon.worker.coalesce import PendingFlags
from pantheon.worker.queues import DispatchMode
from pantheon.worker.task_metrics import record_local
from pantheon.worker.tasks import Result, TaskEnv, Training, run_task

log = logging.getLogger(__name__)

Mode = DispatchMode
#: In-process results kept for ``GET /api/tasks/{id}`` (oldest dropped first).
SYNC_RESULTS_KEPT = 10_000
#: One quick retry of a publish, then the caller falls back (the outcome is stored).
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}


@dataclass(frozen=True)
class DispatchResult:
    """Where a task went: its id, ``celery`` / ``sync`` / ``deferred``, and a sync result."""

    task_id: str | None
    mode: Mode
    result: Result | None = None
    queue: str = ""
    #: Not sent: a task already pending for the god will train it (``task_id`` is that
    #: task's id).
    skipped_for_pending: bool = False


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


class SyncResults:
    """Results of in-process runs, shaped like a Celery result's answer."""

    def __init__(self, kept: int = SYNC_RESULTS_KEPT) -> None:
        self._kept = kept
        self._items: OrderedDict[str, dict[str, object]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, task_id: str, task_name: str, state: str, **fields: object) -> None:
        with self._lock:
            item = self._items.pop(task_id, None) or {
                "task_id": task_id,
                "task_name": task_name,
                "mode": DispatchMode.SYNC.value,
                "result": None,
                "error": None,
            }
            item.update(fields, state=state)
            if state in ("SUCCESS", "FAILURE"):
                item["date_done"] = utcnow().isoformat()
            self._items[task_id] = item
            while len(self._items) > self._kept:
                self._items.popitem(last=False)

    def get(self, task_id: str) -> dict[str, object] | None:
        with self._lock:
            item = self._items.get(task_id)
            return dict(item) if item else None


class InProcessBackend:
    """Runs tasks in this process: fast-queue tasks on the caller's thread, batch and slow
    ones in order on one background thread (polled by task id)."""

    def __init__(
        self,
        settings: Settings,
        training: Callable[[], Training],
        send: Callable[[str, Mapping[str, object]], object],
    ) -> None:
        self.settings = settings
        self._training = training
        self._send = send
        self.results = SyncResults()
        self._background = ThreadPoolExecutor(1, thread_name_prefix="pantheon-sync")

    def submit(
        self, task_name: str, kwargs: Mapping[str, object], *, wait: bool | None = None
    ) -> DispatchResult:
        queue = queues.queue_for(task_name)
        task_id = str(uuid.uuid4())
        self.results.put(task_id, task_name, "PENDING", kwargs=dict(kwargs))
        if wait is None:
            wait = queue == queues.FAST
        if not wait:
            self._background.submit(self._run_logged, task_name, task_id, kwargs)
            return DispatchResult(task_id, DispatchMode.SYNC, None, queue)
        try:
            result = self.run_now(task_name, task_id, kwargs)
        except PantheonError as exc:
            if exc.transient and task_name == queues.TRAIN_FROM_OUTCOME:
                log.warning("outcome training deferred to the outbox sweep: %s", exc.message)
                return DispatchResult(None, DispatchMode.DEFERRED, None, queue)
            raise
        return DispatchResult(task_id, DispatchMode.SYNC, result, queue)

    def run_now(self, task_name: str, task_id: str, kwargs: Mapping[str, object]) -> Result:
        """Run a task on this thread, recording its state and counters like a worker."""
        env = TaskEnv(
            training=self._training(),
            settings=self.settings,
            task_id=task_id,
            send=self._redispatch,
        )
        self.results.put(task_id, task_name, "STARTED")
        started = time.perf_counter()
        try:
            result = run_task(task_name, env, kwargs)
        except BaseException as exc:
            record_local(task_name, "failure", time.perf_counter() - started)
            self.results.put(task_id, task_name, "FAILURE", error=public_reason(exc))
            raise
        record_local(task_name, "success", time.perf_counter() - started, result)
        self.results.put(task_id, task_name, "SUCCESS", result=result)
        return result

    def _redispatch(self, task_name: str, kwargs: dict[str, object]) -> object:
        return self._send(task_name, kwargs)

    def _run_logged(self, task_name: str, task_id: str, kwargs: Mapping[str, object]) -> None:
        try:
            self.run_now(task_name, task_id, kwargs)
        except Exception:  # recorded as FAILURE; a background run has no caller to raise to
            log.exception("in-process %s[%s] failed", task_name, task_id)

    def close(self) -> None:
        self._background.shutdown(wait=False, cancel_futures=True)
