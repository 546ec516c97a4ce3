"""The ten tasks registered on a Celery app, with the retry policy and the run counters
written once around them.

Failures split two ways. Transient ones (``PantheonError.transient``: database down, lock
conflict; broker connection errors; a soft time limit, which rolled the transaction back)
retry with exponential backoff and jitter up to the legacy system's ``max_retries``.
Permanent ones (bad input, unknown id) fail at once with :class:`PermanentTaskError` and a
clear reason.

Run counters (successes, failures, retries, duplicates and a run-time histogram per task):
workers record through Celery signals into one Redis hash (:data:`REDIS_KEY`), so the web
process, which serves ``/metrics``, can read what every worker did; in-process (sync) runs
are recorded in this process. :func:`snapshot` merges both.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import redis
from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_postrun, task_prerun, worker_process_init
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pantheon.config import Settings
from pantheon.errors import PantheonError, public_reason
from pantheon.logs import log_context
from pantheon.training.service import TrainingService
from pantheon.worker import queues
from pantheon.worker.broker import shared_redis_url
from pantheon.worker.coalesce import CeleryBackend, PendingFlags
from pantheon.worker.queues import TASK_QUEUES
from pantheon.worker.tasks import Result, TaskEnv, Training, run_task

log = logging.getLogger(__name__)

#: Builds the training service of a worker process (tests pass a double).
ServiceFactory = Callable[[Settings], Training]
#: Connection errors of the broker and result backend, retried like a database blip.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    KombuOperationalError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
)


class PermanentTaskError(Exception):
    """A task that must not be retried: bad input, unknown id, or retries used up."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    #: Seconds before the first retry (the legacy ``default_retry_delay``).
    delay: float


#: The legacy system's policies (outcome 3/60 s, hourly 2/300 s, nightly 1/600 s), and the
#: same policy for each task's queue-mates.
RETRY_POLICIES: dict[str, RetryPolicy] = {
    queues.TRAIN_FROM_OUTCOME: RetryPolicy(3, 60.0),
    queues.SAVE_CHECKPOINT: RetryPolicy(3, 60.0),
    queues.CLEANUP_CHECKPOINTS: RetryPolicy(3, 60.0),
    queues.HOURLY_BATCH: RetryPolicy(2, 300.0),
    queues.HOURLY_BATCH_ALL: RetryPolicy(2, 300.0),
    queues.NIGHTLY: RetryPolicy(1, 600.0),
    queues.NIGHTLY_ALL: RetryPolicy(1, 600.0),
    queues.KNOWLEDGE_TRANSFER: RetryPolicy(1, 600.0),
    queues.SYNC_SHADOWS: RetryPolicy(1, 600.0),
    # The next sweep slot does the same work; retrying would only stack sweeps.
    queues.SWEEP_OUTBOX: RetryPolicy(0, 30.0),
}

_rng = random.Random()  # jitter only; not security-relevant


def backoff(policy: RetryPolicy, retries: int, scale: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter in [0.5, 1.5) of ``delay * 2**retries * scale``."""
    return float(policy.delay * (2**retries) * scale * (0.5 + rng.random()))


class ServiceHolder:
    """One training service per worker process, built on first use (after the fork)."""

    _all: ClassVar[weakref.WeakSet[ServiceHolder]] = weakref.WeakSet()

    def __init__(self, settings: Settings, factory: ServiceFactory | None) -> None:
        self.settings = settings
        self.factory: ServiceFactory = factory or _training_service
        self._service: Training | None = None
        self._lock = threading.Lock()
        #: The per-god pending-dispatch flags this worker's tasks clear before claiming.
        self.flags = PendingFlags(settings)
        ServiceHolder._all.add(self)

    def get(self) -> Training:
        with self._lock:
            if self._service is None:
                self._service = self.factory(self.settings)
            return self._service

    def reset(self) -> None:
        """Forget an instance inherited from the parent; the child builds its own pool."""
        with self._lock:
            self._service = None

    @classmethod
    def reset_all(cls) -> None:
        for holder in list(cls._all):
            holder.reset()


def _training_service(settings: Settings) -> Training:
    return TrainingService(settings)


def _fresh_service_per_child(**_: object) -> None:
    ServiceHolder.reset_all()


worker_process_init.connect(_fresh_service_per_child, weak=False)


class TaskRunner:
    """What every registered task does: build its env, run it, apply the retry policy."""

    def __init__(self, app: Celery, holder: ServiceHolder) -> None:
        self.app = app
        self.holder = holder
        self.backend = CeleryBackend(lambda: app, holder.flags)

    def __call__(
        self, task: Task, name: str, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> Result:
        god = kwargs.get("god_name") or kwargs.get("god")
        # The task id and name on every record it logs; threads it starts inherit them.
        with log_context(
            task_id=task.request.id, task=name, outcome_id=kwargs.get("outcome_id"), god=god
        ):
            return self._run(task, name, args, kwargs)

    def _send(self, task_name: str, kwargs: dict[str, object]) -> object:
        return self.app.send_task(task_name, kwargs=kwargs, queue=queues.queue_for(task_name))

    def _run(
        self, task: Task, name: str, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> Result:
        flags = self.holder.flags
        env = TaskEnv(
            training=self.holder.get(),
            settings=self.holder.settings,
            task_id=task.request.id,
            send=self._send,
            before_claim=flags.clear if flags.enabled else None,
            follow_up=self.backend.follow_up,
        )
        try:
            return run_task(name, env, kwargs, args)
        except SoftTimeLimitExceeded as exc:
            log.warning("%s[%s] hit its soft time limit; rolled back", name, task.request.id)
            self._retry(task, name, exc)
        except PantheonError as exc:
            if not exc.transient:
                log.warning("%s[%s] failed permanently: %s", name, task.request.id, exc.message)
                raise PermanentTaskError(public_reason(exc)) from None
            self._retry(task, name, exc)
        except TRANSIENT_ERRORS as exc:
            self._retry(task, name, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry(self, task: Task, name: str, exc: BaseException) -> None:
        policy = RETRY_POLICIES[name]
        retries = int(task.request.retries or 0)
        reason = f"{type(exc).__name__}: {exc}"
        if retries >= policy.max_retries:
            log.error("%s[%s] gave up after %d retries: %s", name, task.request.id, retries, reason)
            raise PermanentTaskError(
                f"gave up after {retries} retr{'y' if retries == 1 else 'ies'}: "
                f"{public_reason(exc)}"
            ) from None
        scale = self.holder.settings.task_retry_delay_scale
        countdown = backoff(policy, retries, scale, _rng)
        log.warning(
            "%s[%s] transient failure (%s); retry %d/%d in %.1fs",
            name,
            task.request.id,
            reason,
            retries + 1,
            policy.max_retries,
            countdown,
        )
        raise task.retry(exc=exc, countdown=countdown, max_retries=policy.max_retries)


def register_tasks(
    app: Celery, settings: Settings, service_factory: ServiceFactory | None
) -> dict[str, Task]:
    """Register every task of :data:`pantheon.worker.queues.TASK_QUEUES` on ``app``."""
    holder = ServiceHolder(settings, service_factory)
    runner = TaskRunner(app, holder)
    app.pantheon_services = holder
    registered: dict[str, Task] = {}
    for name, queue in queues.TASK_QUEUES.items():
        slow = queue == queues.SLOW
        policy = RETRY_POLICIES[name]
        registered[name] = app.task(
            bind=True,
            shared=False,  # each app its own task objects (settings, service holder)
            name=name,
            max_retries=policy.max_retries,
            default_retry_delay=policy.delay,
            acks_late=True,
            reject_on_worker_lost=True,
            soft_time_limit=(
                settings.slow_task_soft_time_limit if slow else settings.task_soft_time_limit
            ),
            time_limit=settings.slow_task_time_limit if slow else settings.task_time_limit,
        )(_body(name, runner))
    return registered


def _body(name: str, runner: TaskRunner) -> Callable[..., Result]:
    def body(self: Task, *args: object, **kwargs: object) -> Result:
        return runner(self, name, args, kwargs)

    body.__name__ = name.rsplit(".", 1)[-1]
    body.__qualname__ = body.__name__
    body.__doc__ = f"Celery task {name} (queue {queues.TASK_QUEUES[name]})."
    return body


# --- run counters --------------------------------------------------------------------
REDIS_KEY = "pantheon:task_metrics"
COUNTERS = ("success", "failure", "retry", "duplicate")
#: Upper bounds (seconds) of the run-time histogram: a fast task takes milliseconds, a
#: nightly consolidation up to the slow queue's hard limit (30 min by default).
DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0
)  # fmt: skip
#: Results with one of these statuses did no work: a redelivery, a second Beat, a retry.
DUPLICATE_STATUSES = frozenset({"duplicate", "skipped"})

_local: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
_local_lock = threading.Lock()
_started: dict[str, float] = {}
_clients: dict[str, redis.Redis] = {}


def _fields(task: str, outcome: str, duration: float | None, result: object) -> dict[str, float]:
    fields: dict[str, float] = {f"{task}|{outcome}": 1.0}
    if (
        outcome == "success"
        and isinstance(result, dict)
        and result.get("status") in DUPLICATE_STATUSES
    ):
        fields[f"{task}|duplicate"] = 1.0
    if duration is not None and outcome != "retry":
        fields[f"{task}|duration_sum"] = duration
        fields[f"{task}|duration_count"] = 1.0
        # One count in the first bucket that holds it (made cumulative when read).
        fields[f"{task}|{bucket_field(duration)}"] = 1.0
    return fields


def bucket_field(duration: float) -> str:
    """``le_<bound>`` of the first bucket whose bound is at least ``duration``."""
    for bound in DURATION_BUCKETS:
        if duration <= bound:
            return f"le_{bound:g}"
    return "le_inf"


def cumulative_buckets(row: dict[str, float]) -> list[tuple[str, float]]:
    """Prometheus ``(le, count)`` pairs, cumulative, ending with ``+Inf`` = the count."""
    out: list[tuple[str, float]] = []
    total = 0.0
    for bound in DURATION_BUCKETS:
        total += row.get(f"le_{bound:g}", 0.0)
        out.append((f"{bound:g}", total))
    out.append(("+Inf", total + row.get("le_inf", 0.0)))
    return out


def record_local(task: str, outcome: str, duration: float | None, result: object = None) -> None:
    """Count one in-process run (``outcome``: success, failure or retry)."""
    with _local_lock:
        for key, value in _fields(task, outcome, duration, result).items():
            name, field = key.split("|", 1)
            _local[name][field] += value


def _client_for(settings: Settings) -> redis.Redis:
    """The shared Redis of ``settings``, resolved once per distinct configuration (a
    task's counters cost one pipeline, nothing more)."""
    key = (
        "|".join((str(settings.celery_broker_url_raw), str(settings.celery_result_backend_raw)))
        + "|"
        + settings.redis_url
    )
    client = _clients.get(key)
    if client is None:
        url = shared_redis_url(settings)
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        _clients[key] = client
    return client


def record_redis(
    settings: Settings, task: str, outcome: str, duration: float | None, result: object = None
) -> None:
    """Count one worker run in the shared Redis hash (best effort: metrics never fail a task)."""
    try:
        pipe = _client_for(settings).pipeline(transaction=False)
        for key, value in _fields(task, outcome, duration, result).items():
            if key.endswith("duration_sum"):
                pipe.hincrbyfloat(REDIS_KEY, key, value)
            else:
                pipe.hincrby(REDIS_KEY, key, int(value))
        pipe.execute()
    except Exception as exc:
        log.debug("task metrics not recorded: %s", exc)


def _on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id and getattr(task, "name", None) in TASK_QUEUES:
        _started[task_id] = time.perf_counter()


def _on_postrun(
    task_id: str | None = None,
    task: Any = None,
    retval: Any = None,
    state: str | None = None,
    **_: Any,
) -> None:
    name = getattr(task, "name", None)
    if not task_id or name not in TASK_QUEUES:
        return
    started = _started.pop(task_id, None)
    duration = None if started is None else time.perf_counter() - started
    settings = getattr(task.app, "pantheon_settings", None)
    if settings is None:
        return
    outcome = {"SUCCESS": "success", "RETRY": "retry"}.get(str(state), "failure")
    record_redis(settings, name, outcome, duration, retval)


task_prerun.connect(_on_prerun, weak=False)
task_postrun.connect(_on_postrun, weak=False)


def _empty() -> dict[str, float]:
    return {**dict.fromkeys(COUNTERS, 0.0), "duration_sum": 0.0, "duration_count": 0.0}


def snapshot(settings: Settings | None = None) -> dict[str, dict[str, float]]:
    """Per task name: success, failure, retry, duplicate, duration_sum, duration_count,
    and one ``le_<bound>`` count per histogram bucket that holds runs (not cumulative).

    Worker counts come from Redis when ``settings`` is given and Redis answers; this
    process's in-process runs are added on top.
    """
    out: dict[str, dict[str, float]] = {name: _empty() for name in TASK_QUEUES}
    if settings is not None:
        raw: dict[bytes, bytes] = {}
        try:
            raw = _client_for(settings).hgetall(REDIS_KEY)  # type: ignore[assignment]
        except Exception as exc:
            log.debug("task metrics unreadable: %s", exc)
        for key, count in raw.items():
            name, _, field = key.decode().partition("|")
            if name in out and (field in out[name] or field.startswith("le_")):
                out[name][field] = out[name].get(field, 0.0) + float(count)
    with _local_lock:
        for name, fields in _local.items():
            target = out.setdefault(name, _empty())
            for field, value in fields.items():
                target[field] = target.get(field, 0.0) + value
    return out


def reset_local() -> None:
    """Forget this process's in-process counts (tests)."""
    with _local_lock:
        _local.clear()
