"""One dispatcher: Celery when a worker is there to take the task, in-process otherwise.

``PANTHEON_TASK_MODE=auto`` (default) sends to Celery only when the broker answers *and* a
worker consumes the task's queue (:class:`~pantheon.worker.mode.ModeProbe`, cached and
refreshed in the background). Each task runs exactly one way: if publishing fails, it runs
in-process instead (an outcome whose in-process run hits a transient error is left to the
outbox sweep: ``mode="deferred"``). The two ways are two backends behind one interface
(a task name and its keyword arguments in, a :class:`DispatchResult` out): the Celery one
(:class:`~pantheon.worker.coalesce.CeleryBackend`) and the in-process one here
(:class:`InProcessBackend`, the idea of dramatiq's ``StubBroker``), which runs the same
:func:`pantheon.worker.tasks.run_task` a worker runs, with the same counters, so a task
behaves the same in ``celery`` and ``sync`` mode.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from celery import Celery

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.errors import PantheonError, public_reason
from pantheon.training.service import TrainingService
from pantheon.worker import queues
from pantheon.worker.broker import (  # re-exported: callers import them from here
    INSPECT_TIMEOUT,
    WorkerInfo,
    beat_alive,
    celery_task_result,
    probe_consumed_queues,
    queue_depths,
    workers,
)
from pantheon.worker.celery_app import create_celery
from pantheon.worker.celery_tasks import record_local
from pantheon.worker.coalesce import CeleryBackend, PendingFlags
from pantheon.worker.mode import ModeProbe
from pantheon.worker.queues import DispatchMode, DispatchResult
from pantheon.worker.tasks import Result, TaskEnv, Training, run_task

log = logging.getLogger(__name__)

Mode = DispatchMode
#: In-process results kept for ``GET /api/tasks/{id}`` (oldest dropped first).
SYNC_RESULTS_KEPT = 10_000

__all__ = [
    "INSPECT_TIMEOUT",
    "DispatchResult",
    "Dispatcher",
    "InProcessBackend",
    "Mode",
    "SyncResults",
    "beat_alive",
    "celery_task_result",
    "default_dispatcher",
    "get_task_result",
    "is_celery_available",
    "probe_consumed_queues",
    "queue_depths",
    "workers",
]


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


class Dispatcher:
    """Sends tasks to Celery or runs them here; one per process (the web, ``pantheon up``)."""

    def __init__(
        self,
        settings: Settings,
        service: Training | None = None,
        *,
        app: Celery | None = None,
        flags: PendingFlags | None = None,
    ) -> None:
        self.settings = settings
        self._service = service
        self._app = app
        self._lock = threading.Lock()
        self.probe = ModeProbe(settings, lambda: self.app)
        self.flags = flags or PendingFlags(settings)
        self.celery = CeleryBackend(lambda: self.app, self.flags)
        self.local = InProcessBackend(settings, lambda: self.service, self.send)
        #: Online-training dispatches in celery mode: sent, and skipped for a pending task.
        self.outcome_dispatches = {"sent": 0, "skipped_for_pending": 0}

    # --- collaborators, built on first use -----------------------------------------
    @property
    def service(self) -> Training:
        with self._lock:
            if self._service is None:
                built: Training = TrainingService(self.settings)
                self._service = built
            return self._service

    @property
    def app(self) -> Celery:
        with self._lock:
            if self._app is None:
                self._app = create_celery(self.settings)
            return self._app

    @property
    def results(self) -> SyncResults:
        return self.local.results

    # --- dispatch ------------------------------------------------------------------
    def dispatch(
        self, task_name: str, *, wait: bool | None = None, **kwargs: object
    ) -> DispatchResult:
        """:meth:`send` with the task's keyword arguments spelled out."""
        return self.send(task_name, kwargs, wait=wait)

    def send(
        self, task_name: str, kwargs: Mapping[str, object], *, wait: bool | None = None
    ) -> DispatchResult:
        """Send ``task_name`` to Celery or run it here; never both, never lost.

        ``wait`` (sync mode only) runs it on the caller's thread; by default fast-queue tasks
        do, batch and slow ones run on a background thread and are polled by task id. An
        online task given ``god_name`` (the god known at intake) is not sent while one of
        that god's is pending: that task trains this outcome too.
        """
        forced = self.settings.task_mode
        # A forced mode never asks the broker; only ``auto`` consults the probe's cache.
        mode = forced if forced != "auto" else self.probe.mode_for(task_name)
        if mode == DispatchMode.CELERY:
            god = self._pending_flag_god(task_name, kwargs)
            try:
                sent = self.celery.publish(task_name, kwargs, god=god)
            except Exception as exc:  # the broker died after the check: run it here instead
                log.warning(
                    "publishing %s failed (%s: %s); running it in-process",
                    task_name,
                    type(exc).__name__,
                    exc,
                )
                self.probe.mark_down()
            else:
                if task_name == queues.TRAIN_FROM_OUTCOME:
                    self._count("skipped_for_pending" if sent.skipped_for_pending else "sent")
                return sent
        return self.local.submit(task_name, kwargs, wait=wait)

    def _pending_flag_god(self, task_name: str, kwargs: Mapping[str, object]) -> str | None:
        """The god whose pending flag gates this send; ``None``: send without one."""
        if task_name != queues.TRAIN_FROM_OUTCOME or not self.flags.enabled:
            return None
        god = kwargs.get("god_name")
        outcome_id = kwargs.get("outcome_id")
        if not isinstance(god, str) or isinstance(outcome_id, bool):
            return None
        return (
            god
            if isinstance(outcome_id, int) and set(kwargs) <= {"outcome_id", "god_name"}
            else None
        )

    def _count(self, key: str) -> None:
        with self._lock:
            self.outcome_dispatches[key] += 1

    def run_now(self, task_name: str, task_id: str, kwargs: Mapping[str, object]) -> Result:
        """Run a task on this thread (in-process), recording it like a worker would."""
        return self.local.run_now(task_name, task_id, kwargs)

    # --- mode, results and health ----------------------------------------------------
    def consumed_queues(self, *, refresh: bool = False) -> frozenset[str]:
        return self.probe.consumed_queues(refresh=refresh)

    def mode_for(self, task_name: str) -> DispatchMode:
        return self.probe.mode_for(task_name)

    def celery_available(self, *, recheck: bool = False) -> bool:
        return self.probe.celery_available(recheck=recheck)

    def get_task_result(self, task_id: str, timeout: float | None = None) -> dict[str, object]:
        """State and result of a task from either mode (``PENDING`` when unknown)."""
        local = self.local.results.get(task_id)
        if local is not None:
            return local
        return celery_task_result(self.app, task_id, timeout)

    def queue_depths(self) -> dict[str, int | None]:
        return queue_depths(self.app)

    def workers(self) -> list[WorkerInfo] | None:
        return self.probe.workers()

    def beat_alive(self) -> bool | None:
        return beat_alive(self.app)

    def close(self) -> None:
        self.local.close()


# --- the legacy system's helpers ------------------------------------------------------
_default: dict[str, Dispatcher] = {}
_default_lock = threading.Lock()


def default_dispatcher(settings: Settings | None = None) -> Dispatcher:
    """A process-wide dispatcher for callers that have no settings of their own."""
    with _default_lock:
        if "dispatcher" not in _default:
            _default["dispatcher"] = Dispatcher(settings or Settings())
        return _default["dispatcher"]


def is_celery_available(settings: Settings | None = None) -> bool:
    """The legacy helper: is the broker up with a worker on every queue? (cached)"""
    return default_dispatcher(settings).celery_available()


def get_task_result(
    task_id: str, timeout: float | None = None, settings: Settings | None = None
) -> dict[str, object]:
    """The legacy helper: state and result of ``task_id`` (celery or in-process)."""
    return default_dispatcher(settings).get_task_result(task_id, timeout)
