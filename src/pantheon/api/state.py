"""What one web process holds: settings, the roster, the store, the service, the dispatcher.

The store, the service and the dispatcher are built on first use, so the process starts
(and ``/api/health`` answers 503) while the database is still down. Slow checks against
Redis or the database go through :class:`Probe`: bounded in time, cached a few seconds and
single-flight, so a dead broker never piles up threads or slows health checks down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from fastapi import Request

from pantheon.config import Settings
from pantheon.roster import Roster

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Threads for probes; a probe stuck on a dead host holds one until its own socket timeout.
_PROBE_THREADS = 4


class ProbeTimeoutError(Exception):
    """A probe did not answer within its time budget."""


class Probe(Generic[T]):
    """Runs ``fn`` in a thread at most once per ``ttl`` seconds, waiting at most ``timeout``."""

    def __init__(
        self, executor: ThreadPoolExecutor, fn: Callable[[], T], ttl: float, timeout: float
    ) -> None:
        self._executor = executor
        self._fn = fn
        self._ttl = ttl
        self._timeout = timeout
        self._lock = threading.Lock()
        self._future: Future[T] | None = None
        self._started = 0.0

    def get(self) -> T:
        """The latest answer; raises what ``fn`` raised, or :class:`ProbeTimeoutError`."""
        with self._lock:
            now = time.monotonic()
            stale = self._future is None or (
                self._future.done() and now - self._started >= self._ttl
            )
            if stale:
                self._future = self._executor.submit(self._fn)
                self._started = now
            future = self._future
        assert future is not None
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout as exc:
            raise ProbeTimeoutError(f"no answer within {self._timeout:.1f}s") from exc

    def invalidate(self) -> None:
        with self._lock:
            if self._future is not None and self._future.done():
                self._future = None


@dataclass
class DispatchRecord:
    """One task this process dispatched, for the dashboard's recent-results table."""

    task_id: str
    task_name: str
    mode: str
    dispatched_at: datetime
    kwargs: dict[str, Any]
    result: dict[str, Any] | None = None
    state: str = "PENDING"
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.state in ("SUCCESS", "FAILURE", "REVOKED")

    def update(self, found: dict[str, Any]) -> None:
        self.state = str(found.get("state") or self.state)
        self.result = found.get("result") if isinstance(found.get("result"), dict) else None
        self.error = found.get("error")


@dataclass
class AppState:
    """Per-process objects shared by the routes (``request.app.state.pantheon``)."""

    settings: Settings
    roster: Roster
    _database: Any = None
    _service: Any = None
    _dispatcher: Any = None
    recent: deque[DispatchRecord] = field(default_factory=lambda: deque(maxlen=50))
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(_PROBE_THREADS, thread_name_prefix="probe")
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _probes: dict[str, Probe[Any]] = field(default_factory=dict)

    @property
    def database(self) -> Any:
        with self._lock:
            if self._database is None:
                from pantheon.store.db import Database

                self._database = Database(self.settings)
            return self._database

    @property
    def service(self) -> Any:
        database = self.database
        with self._lock:
            if self._service is None:
                from pantheon.training.service import TrainingService

                self._service = TrainingService(
                    self.settings, database=database, roster=self.roster
                )
            return self._service

    @property
    def dispatcher(self) -> Any:
        service = self.service
        with self._lock:
            if self._dispatcher is None:
                from pantheon.worker.dispatch import Dispatcher

                self._dispatcher = Dispatcher(self.settings, service)
            return self._dispatcher

    def probe(self, name: str, fn: Callable[[], T], timeout: float = 2.0) -> T:
        """``fn()`` through a cached, time-bounded, single-flight :class:`Probe`."""
        with self._lock:
            probe = self._probes.get(name)
            if probe is None:
                ttl = max(self.settings.mode_cache_seconds, 1.0)
                probe = Probe(self.executor, fn, ttl=ttl, timeout=timeout)
                self._probes[name] = probe
        return probe.get()  # type: ignore[no-any-return]

    def forget(self, name: str) -> None:
        """Drop the cached answer of probe ``name``: the next call asks again."""
        with self._lock:
            probe = self._probes.get(name)
        if probe is not None:
            probe.invalidate()

    # --- the blocking checks behind the probes (each runs in a probe thread) ---------
    def database_up(self) -> bool:
        return bool(self.database.ping())

    def celery_available(self) -> bool:
        return bool(self.dispatcher.celery_available(recheck=True))

    def queue_depths(self) -> dict[str, int | None]:
        return dict(self.dispatcher.queue_depths())

    def unconsumed_waiting(self) -> dict[str, int]:
        """Queues holding messages that no live worker consumes (e.g. Celery's ``celery``)."""
        depths = self.dispatcher.queue_depths()
        consumed = self.dispatcher.consumed_queues()
        return {q: int(n) for q, n in depths.items() if n and q not in consumed}

    def worker_count(self) -> int | None:
        """Live workers; None when the broker does not answer."""
        found = self.dispatcher.workers()
        return None if found is None else len(found)

    def beat_alive(self) -> bool | None:
        """True while a Beat holds the leader lock; None when that cannot be told."""
        alive = self.dispatcher.beat_alive()
        return None if alive is None else bool(alive)

    def remember(self, record: DispatchRecord) -> None:
        self.recent.appendleft(record)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self._dispatcher is not None and hasattr(self._dispatcher, "close"):
            self._dispatcher.close()
        if self._database is not None and hasattr(self._database, "dispose"):
            try:
                self._database.dispose()
            except Exception:  # closing is best effort at shutdown
                log.warning("closing the database pool failed", exc_info=True)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.pantheon
    return state


def utcnow() -> datetime:
    return datetime.now(UTC)
