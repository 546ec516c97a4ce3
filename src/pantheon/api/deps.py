"""What one web process holds, and how a route gets it: :class:`AppState` and its
probes, the typed dependencies built from it, and the guards of the routes that need a
secret.

:meth:`AppState.build` makes them once per application. None of their constructors opens a
connection, so the process starts (and ``/api/health`` answers 503) while the database is
still down. Slow checks against Redis or the database go through :class:`Probe`: bounded in
time, cached a few seconds and single-flight, so a dead broker never piles up threads or
slows health checks down.

Routes receive these objects as typed dependencies: each alias (``ServiceDep``, …) names
one object of the :class:`AppState` that ``create_app`` built, so a route states what it
uses in its signature and mypy checks every use. Tests swap an object with
``app.dependency_overrides[get_service] = ...``.

Each getter is ``async def`` because it only reads an attribute: FastAPI runs a plain
``def`` dependency in the thread pool (``run_in_threadpool``,
https://fastapi.tiangolo.com/async/#dependencies), and on ``POST /api/route`` the two
getters it needed were two of its three thread-pool round trips.

The guards: a bearer token for every POST, and the cron secret for the legacy cron route.
Both compare in constant time (``hmac.compare_digest`` on bytes). With no
``PANTHEON_API_TOKEN`` the API is open (development); production refuses to start without
one (``Settings.require_safe_for_production``). Secrets are never logged or echoed.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Generic, TypeVar, cast

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from pantheon.api.schemas import JobAccepted
from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.errors import AuthError, NotFoundError
from pantheon.roster import Roster
from pantheon.store.db import Database
from pantheon.training.representation import Representation
from pantheon.training.representation import status as representation_status
from pantheon.training.service import TrainingService
from pantheon.worker.dispatch import Dispatcher

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Covariant, so every probe fits one ``dict[str, Probe[object]]``.
T_co = TypeVar("T_co", covariant=True)

#: Threads for probes; a probe stuck on a dead host holds one until its own socket timeout.
_PROBE_THREADS = 4


class ProbeTimeoutError(Exception):
    """A probe did not answer within its time budget."""


class Probe(Generic[T_co]):
    """Runs ``fn`` in a thread at most once per ``ttl`` seconds, waiting at most ``timeout``."""

    def __init__(
        self, executor: ThreadPoolExecutor, fn: Callable[[], T_co], ttl: float, timeout: float
    ) -> None:
        self._executor = executor
        self._fn = fn
        self._ttl = ttl
        self._timeout = timeout
        self._lock = threading.Lock()
        self._future: Future[T_co] | None = None
        self._started = 0.0

    def get(self) -> T_co:
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
    kwargs: Mapping[str, object]
    result: Mapping[str, object] | None = None
    state: str = "PENDING"
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.state in ("SUCCESS", "FAILURE", "REVOKED")

    def update(self, found: Mapping[str, object]) -> None:
        """Takes a result lookup's answer (``state``, ``result``, ``error``)."""
        self.state = str(found.get("state") or self.state)
        result, error = found.get("result"), found.get("error")
        self.result = cast(Mapping[str, object], result) if isinstance(result, dict) else None
        self.error = None if error is None else str(error)


@dataclass
class AppState:
    """Per-process objects shared by the routes (``request.app.state.pantheon``)."""

    settings: Settings
    roster: Roster
    database: Database
    service: TrainingService
    dispatcher: Dispatcher
    recent: deque[DispatchRecord] = field(default_factory=lambda: deque(maxlen=50))
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(_PROBE_THREADS, thread_name_prefix="probe")
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _probes: dict[str, Probe[object]] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, roster: Roster | None = None) -> AppState:
        """The database, service and dispatcher for ``settings``; no connection is opened."""
        roster = roster or Roster.load(settings.roster_file)
        database = Database(settings)
        service = TrainingService(settings, database=database, roster=roster)
        return cls(
            settings=settings,
            roster=roster,
            database=database,
            service=service,
            dispatcher=Dispatcher(settings, service),
        )

    def probe(self, name: str, fn: Callable[[], T], timeout: float = 2.0) -> T:
        """``fn()`` through a cached, time-bounded, single-flight :class:`Probe`."""
        with self._lock:
            probe = self._probes.get(name)
            if probe is None:
                ttl = max(self.settings.mode_cache_seconds, 1.0)
                probe = Probe(self.executor, fn, ttl=ttl, timeout=timeout)
                self._probes[name] = probe
        # The probe under ``name`` was made from an ``fn`` of this type.
        return cast(T, probe.get())

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

    def representation(self) -> Representation:
        """The running coordizer and the stale kernels (the kernels table only)."""
        return representation_status(self.service)

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

    def send(self, task_name: str, **kwargs: object) -> JobAccepted:
        """Dispatch ``task_name`` (Celery or in-process, as the dispatcher decides) and
        remember it for the dashboard's recent-results table."""
        outcome = self.dispatcher.send(task_name, kwargs)
        result = outcome.result if isinstance(outcome.result, dict) else None
        if outcome.task_id is None:  # deferred: nothing was run or queued under an id
            return JobAccepted(task_id=None, task_name=task_name, mode=outcome.mode, result=None)
        self.remember(
            DispatchRecord(
                task_id=str(outcome.task_id),
                task_name=task_name,
                mode=str(outcome.mode),
                dispatched_at=utcnow(),
                kwargs=kwargs,
                result=result,
                state="SUCCESS" if result is not None else "PENDING",
            )
        )
        return JobAccepted(
            task_id=str(outcome.task_id) if outcome.task_id else None,
            task_name=task_name,
            mode=outcome.mode,
            result=result,
        )

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.dispatcher.close()
        try:
            self.database.dispose()
        except Exception:  # closing is best effort at shutdown
            log.warning("closing the database pool failed", exc_info=True)


def get_state(request: HTTPConnection) -> AppState:
    state: AppState = request.app.state.pantheon
    return state


# --- typed dependencies ---------------------------------------------------------------
async def current_state(request: Request) -> AppState:
    return get_state(request)


StateDep = Annotated[AppState, Depends(current_state)]


async def get_settings(request: Request) -> Settings:
    return get_state(request).settings


async def get_roster(request: Request) -> Roster:
    return get_state(request).roster


async def get_database(request: Request) -> Database:
    return get_state(request).database


async def get_service(request: Request) -> TrainingService:
    return get_state(request).service


async def get_dispatcher(request: Request) -> Dispatcher:
    return get_state(request).dispatcher


SettingsDep = Annotated[Settings, Depends(get_settings)]
RosterDep = Annotated[Roster, Depends(get_roster)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ServiceDep = Annotated[TrainingService, Depends(get_service)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]


# --- the guards ---------------------------------------------------------------------
#: auto_error=False: a missing header is ours to answer (with our error body).
bearer_scheme = HTTPBearer(auto_error=False, description="PANTHEON_API_TOKEN")
cron_secret_scheme = APIKeyHeader(name="X-Cron-Secret", auto_error=False, description="CRON_SECRET")


def secrets_match(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets (length leaks, content does not)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class BearerGuard(HTTPBearer):
    """The bearer-token guard of every POST route, as one dependency: the security scheme
    itself (so OpenAPI documents it) checks the token. A guard that took the scheme and the
    state as sub-dependencies cost FastAPI three dependency solves per request."""

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        credentials = await super().__call__(request)
        check_token(get_state(request), credentials)
        return credentials


#: Dependency of every POST route: checks ``Authorization: Bearer <token>`` if one is set.
#: One scheme name with :data:`bearer_scheme`: OpenAPI shows one bearer scheme.
require_token = BearerGuard(
    auto_error=False, scheme_name="HTTPBearer", description="PANTHEON_API_TOKEN"
)


def check_token(state: AppState, credentials: HTTPAuthorizationCredentials | None) -> None:
    """The bearer-token check itself, for a GET that is public only in part."""
    token = state.settings.api_token
    if token is None:
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token: send 'Authorization: Bearer <PANTHEON_API_TOKEN>'")
    if not secrets_match(credentials.credentials, token.get_secret_value()):
        raise AuthError("invalid bearer token")


async def require_cron_secret(
    state: StateDep, secret: Annotated[str | None, Depends(cron_secret_scheme)]
) -> AppState:
    """The cron route's guard; with ``CRON_SECRET`` unset the route does not exist (404)."""
    expected = state.settings.cron_secret
    if expected is None or not expected.get_secret_value():
        raise NotFoundError("the cron route is disabled (CRON_SECRET is not set)")
    if secret is None:
        raise AuthError("missing X-Cron-Secret header")
    if not secrets_match(secret, expected.get_secret_value()):
        raise AuthError("invalid cron secret")
    return state
