"""One dispatcher: Celery when a worker is there to take the task, in-process otherwise.

``PANTHEON_TASK_MODE=auto`` (default) sends to Celery only when the broker answers *and* a
worker consumes the task's queue (``inspect active_queues``), checked in the background and
cached ``PANTHEON_MODE_CACHE_SECONDS``, so a dead Redis never slows a request down. Each
task runs exactly one way: if publishing fails, it runs in-process instead (an outcome whose
in-process run hits a transient error is left to the outbox sweep: ``mode="deferred"``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pantheon.config import Settings
from pantheon.errors import PantheonError, public_reason
from pantheon.worker import queues
from pantheon.worker.broker import (  # re-exported: callers import them from here
    INSPECT_TIMEOUT,
    beat_alive,
    celery_task_result,
    probe_consumed_queues,
    queue_depths,
    workers,
)
from pantheon.worker.coalesce import PendingFlags, god_of_outcome
from pantheon.worker.operations import Context, run_operation
from pantheon.worker.task_metrics import record_local

log = logging.getLogger(__name__)

__all__ = [
    "INSPECT_TIMEOUT",
    "DispatchResult",
    "Dispatcher",
    "beat_alive",
    "celery_task_result",
    "default_dispatcher",
    "get_task_result",
    "is_celery_available",
    "probe_consumed_queues",
    "queue_depths",
    "workers",
]

Mode = Literal["celery", "sync", "deferred"]
#: In-process results kept for ``GET /api/tasks/{id}`` (oldest dropped first).
SYNC_RESULTS_KEPT = 10_000
#: A negative answer younger than this is not asked again by a health recheck.
RECHECK_AFTER = 0.5


@dataclass(frozen=True)
class DispatchResult:
    """Where a task went: its id, ``celery`` / ``sync`` / ``deferred``, and a sync result."""

    task_id: str | None
    mode: Mode
    result: dict[str, Any] | None = None
    queue: str = ""
    #: Not sent: a task already pending for the god will train it (``task_id`` is that
    #: task's id, or ``None`` when it is not known).
    coalesced: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


class SyncResults:
    """Results of in-process runs, shaped like :func:`get_task_result`'s answer."""

    def __init__(self, kept: int = SYNC_RESULTS_KEPT) -> None:
        self._kept = kept
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, task_id: str, task_name: str, state: str, **fields: Any) -> None:
        with self._lock:
            item = self._items.pop(task_id, None) or {
                "task_id": task_id,
                "task_name": task_name,
                "mode": "sync",
                "result": None,
                "error": None,
            }
            item.update(fields, state=state)
            if state in ("SUCCESS", "FAILURE"):
                item["date_done"] = _now().isoformat()
            self._items[task_id] = item
            while len(self._items) > self._kept:
                self._items.popitem(last=False)

    def get(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(task_id)
            return dict(item) if item else None


class Dispatcher:
    """Sends tasks to Celery or runs them here; one per process (the web, ``pantheon up``)."""

    def __init__(self, settings: Settings, service: Any = None, *, app: Any = None) -> None:
        self.settings = settings
        self._service = service
        self._app = app
        self._lock = threading.Lock()
        self._consumed: frozenset[str] | None = None
        #: The workers behind ``_consumed`` (one inspection answers both); None: broker down.
        self._workers: list[dict[str, Any]] | None = None
        self._checked_at = 0.0
        self._refreshing = False
        self.results = SyncResults()
        self._flags: PendingFlags | None = None
        #: Online-training dispatches in celery mode: sent, and skipped as coalesced.
        self.outcome_dispatches = {"sent": 0, "coalesced": 0}
        # Batch and slow jobs run here in order, off the caller's thread.
        self._background = ThreadPoolExecutor(1, thread_name_prefix="pantheon-sync")

    # --- collaborators, built on first use -----------------------------------------
    @property
    def service(self) -> Any:
        with self._lock:
            if self._service is None:
                from pantheon.training.service import TrainingService

                self._service = TrainingService(self.settings)
            return self._service

    @property
    def app(self) -> Any:
        with self._lock:
            if self._app is None:
                from pantheon.worker.celery_app import create_celery

                self._app = create_celery(self.settings)
            return self._app

    # --- mode ----------------------------------------------------------------------
    def consumed_queues(self, *, refresh: bool = False) -> frozenset[str]:
        """Queues some live worker consumes; empty when the broker is down or none is."""
        now = time.monotonic()
        with self._lock:
            fresh = now - self._checked_at < self.settings.mode_cache_seconds
            known = self._consumed
            if not refresh and known is not None and (fresh or self._refreshing):
                return known
            if known is not None and not refresh:
                self._refreshing = True  # stale: answer now, refresh in the background
        if known is not None and not refresh:
            threading.Thread(target=self._refresh, name="pantheon-mode", daemon=True).start()
            return known
        return self._refresh()

    def _refresh(self) -> frozenset[str]:
        found = workers(self.app)
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

    def mode_for(self, task_name: str) -> Literal["celery", "sync"]:
        if self.settings.task_mode != "auto":
            return self.settings.task_mode
        queue = queues.queue_for(task_name)
        return "celery" if queue in self.consumed_queues() else "sync"

    def celery_available(self, *, recheck: bool = False) -> bool:
        """True when every queue has a consumer (the seed's ``is_celery_available``).

        ``recheck`` (health checks, off the request path) asks the workers again at once
        when the cached answer says a queue has no consumer, so a worker that just became
        ready is seen now rather than a cache period later.
        """
        covered = set(queues.QUEUES) <= self.consumed_queues()
        with self._lock:
            asked_recently = time.monotonic() - self._checked_at < RECHECK_AFTER
        if not covered and recheck and not asked_recently:
            covered = set(queues.QUEUES) <= self.consumed_queues(refresh=True)
        return covered

    def _mark_broker_down(self) -> None:
        with self._lock:
            self._consumed = frozenset()
            self._workers = None
            self._checked_at = time.monotonic()

    # --- dispatch ------------------------------------------------------------------
    def dispatch(
        self, task_name: str, *, wait: bool | None = None, **kwargs: Any
    ) -> DispatchResult:
        """Send ``task_name`` to Celery or run it here; never both, never lost.

        ``wait`` (sync mode only) runs it on the caller's thread; by default fast-queue tasks
        do, batch and slow ones run on a background thread and are polled by task id.
        """
        queue = queues.queue_for(task_name)
        if self.mode_for(task_name) == "celery":
            task_id = str(uuid.uuid4())
            god = self._coalesce_god(task_name, kwargs)
            if god is not None:
                holder = self.flags.claim(god, task_id)
                if holder is not None:
                    self._count("coalesced")
                    return DispatchResult(holder or None, "celery", None, queue, coalesced=True)
            try:
                sent = self.app.send_task(
                    task_name,
                    kwargs=kwargs,
                    queue=queue,
                    task_id=task_id,
                    retry=True,
                    retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
                )
                if task_name == queues.TRAIN_FROM_OUTCOME:
                    self._count("sent")
                return DispatchResult(str(sent.id), "celery", None, queue)
            except Exception as exc:  # the broker died after the check: run it here instead
                log.warning(
                    "publishing %s failed (%s: %s); running it in-process",
                    task_name,
                    type(exc).__name__,
                    exc,
                )
                if god is not None:  # no task behind the flag: later outcomes must send
                    self.flags.clear(god)
                self._mark_broker_down()
        return self._run_here(task_name, queue, kwargs, wait)

    @property
    def flags(self) -> PendingFlags:
        with self._lock:
            if self._flags is None:
                self._flags = PendingFlags(self.settings)
            return self._flags

    def _coalesce_god(self, task_name: str, kwargs: Mapping[str, Any]) -> str | None:
        """The god whose pending flag gates this send; ``None``: send without one."""
        if task_name != queues.TRAIN_FROM_OUTCOME or set(kwargs) != {"outcome_id"}:
            return None
        if self.settings.train_dispatch_coalesce_seconds <= 0:
            return None
        outcome_id = kwargs["outcome_id"]
        if isinstance(outcome_id, bool) or not isinstance(outcome_id, int):
            return None  # the task rejects it; nothing to coalesce
        return god_of_outcome(self.service, outcome_id)

    def _count(self, key: str) -> None:
        with self._lock:
            self.outcome_dispatches[key] += 1

    def _run_here(
        self, task_name: str, queue: str, kwargs: dict[str, Any], wait: bool | None
    ) -> DispatchResult:
        task_id = str(uuid.uuid4())
        self.results.put(task_id, task_name, "PENDING", kwargs=kwargs)
        if wait is None:
            wait = queue == queues.FAST
        if not wait:
            self._background.submit(self._run_logged, task_name, task_id, kwargs)
            return DispatchResult(task_id, "sync", None, queue)
        try:
            result = self.run_now(task_name, task_id, kwargs)
        except PantheonError as exc:
            if exc.transient and task_name == queues.TRAIN_FROM_OUTCOME:
                log.warning("outcome training deferred to the outbox sweep: %s", exc.message)
                return DispatchResult(None, "deferred", None, queue)
            raise
        return DispatchResult(task_id, "sync", result, queue)

    def run_now(self, task_name: str, task_id: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Run a task on this thread, recording its state and metrics like a worker would."""
        ctx = Context(settings=self.settings, task_id=task_id, redispatch=self._redispatch)
        self.results.put(task_id, task_name, "STARTED")
        started = time.perf_counter()
        try:
            result = run_operation(task_name, self.service, kwargs, ctx)
        except BaseException as exc:
            record_local(task_name, "failure", time.perf_counter() - started)
            self.results.put(task_id, task_name, "FAILURE", error=_describe(exc))
            raise
        record_local(task_name, "success", time.perf_counter() - started, result)
        self.results.put(task_id, task_name, "SUCCESS", result=result)
        return result

    def _run_logged(self, task_name: str, task_id: str, kwargs: dict[str, Any]) -> None:
        try:
            self.run_now(task_name, task_id, kwargs)
        except Exception:  # recorded as FAILURE; a background run has no caller to raise to
            log.exception("in-process %s[%s] failed", task_name, task_id)

    def _redispatch(self, task_name: str, kwargs: dict[str, Any]) -> Any:
        return self.dispatch(task_name, **kwargs)

    # --- results and health ----------------------------------------------------------
    def get_task_result(self, task_id: str, timeout: float | None = None) -> dict[str, Any]:
        """State and result of a task from either mode (``PENDING`` when unknown)."""
        local = self.results.get(task_id)
        if local is not None:
            return local
        return celery_task_result(self.app, task_id, timeout)

    def queue_depths(self) -> dict[str, int | None]:
        return queue_depths(self.app)

    def workers(self) -> list[dict[str, Any]] | None:
        """Live workers and their queues: the answer the mode decision last used (so health
        never says "celery available" beside "0 workers"); None when the broker is down."""
        with self._lock:
            known = self._consumed is not None
        if not known:
            self._refresh()
        with self._lock:
            return None if self._workers is None else list(self._workers)

    def beat_alive(self) -> bool | None:
        return beat_alive(self.app)

    def close(self) -> None:
        self._background.shutdown(wait=False, cancel_futures=True)


def _describe(exc: BaseException) -> str:
    return public_reason(exc)


# --- the seed's helpers ---------------------------------------------------------------
_default: dict[str, Dispatcher] = {}
_default_lock = threading.Lock()


def default_dispatcher(settings: Settings | None = None) -> Dispatcher:
    """A process-wide dispatcher for callers that have no settings of their own."""
    with _default_lock:
        if "dispatcher" not in _default:
            _default["dispatcher"] = Dispatcher(settings or Settings())
        return _default["dispatcher"]


def is_celery_available(settings: Settings | None = None) -> bool:
    """The seed's helper: is the broker up with a worker on every queue? (cached)"""
    return default_dispatcher(settings).celery_available()


def get_task_result(
    task_id: str, timeout: float | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """The seed's helper: state and result of ``task_id`` (celery or in-process)."""
    return default_dispatcher(settings).get_task_result(task_id, timeout)
