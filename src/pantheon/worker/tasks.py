"""The ten Celery tasks: each one a thin wrapper over one training-service call.

Failures split two ways. Transient ones (``PantheonError.transient``: database down, lock
conflict; broker connection errors; a soft time limit, which rolled the transaction back)
retry with exponential backoff and jitter up to the seed's ``max_retries``. Permanent ones
(bad input, unknown id) fail at once with :class:`PermanentTaskError` and a clear reason.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from pantheon.config import Settings
from pantheon.errors import PantheonError, public_reason
from pantheon.logs import log_context
from pantheon.worker import queues
from pantheon.worker.coalesce import PendingFlags
from pantheon.worker.operations import Context, run_operation

log = logging.getLogger(__name__)


class PermanentTaskError(Exception):
    """A task that must not be retried: bad input, unknown id, or retries used up."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    #: Seconds before the first retry (the seed's ``default_retry_delay``).
    delay: float


#: The seed's policies (outcome 3/60 s, hourly 2/300 s, nightly 1/600 s), and the same
#: policy for each task's queue-mates.
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

#: Positional arguments, for callers of the seed that passed them in order.
POSITIONAL: dict[str, tuple[str, ...]] = {
    queues.HOURLY_BATCH: ("god_name",),
    queues.NIGHTLY: ("god_name",),
    queues.SAVE_CHECKPOINT: ("god_name", "trigger"),
    queues.KNOWLEDGE_TRANSFER: (
        "transfer_type",
        "source_god",
        "target_god",
        "transfer_ratio",
        "extra_params",
    ),
}
SEED_OUTCOME_ORDER = (
    "god_name",
    "prompt",
    "response",
    "success",
    "phi",
    "kappa",
    "coherence_score",
    "basin_trajectory",
)


def backoff(policy: RetryPolicy, retries: int, scale: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter in [0.5, 1.5) of ``delay * 2**retries * scale``."""
    return float(policy.delay * (2**retries) * scale * (0.5 + rng.random()))


def bind_positional(task: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Name positional arguments the way the seed's signatures did."""
    if not args:
        return kwargs
    if task == queues.TRAIN_FROM_OUTCOME:
        names: tuple[str, ...] = (
            ("outcome_id",) if isinstance(args[0], int) and len(args) == 1 else SEED_OUTCOME_ORDER
        )
    else:
        names = POSITIONAL.get(task, ())
    if len(args) > len(names):
        raise PermanentTaskError(f"{task} takes at most {len(names)} positional argument(s)")
    bound = dict(zip(names, args, strict=False))
    clash = sorted(set(bound) & set(kwargs))
    if clash:
        raise PermanentTaskError(f"{task} got {', '.join(clash)} twice")
    return {**bound, **kwargs}


def _transient_errors() -> tuple[type[BaseException], ...]:
    """Connection errors of the broker and result backend, retried like a database blip."""
    from kombu.exceptions import OperationalError as KombuOperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (
        KombuOperationalError,
        RedisConnectionError,
        RedisTimeoutError,
        ConnectionError,
        TimeoutError,
    )


class ServiceHolder:
    """One training service per worker process, built on first use (after the fork)."""

    _all: ClassVar[weakref.WeakSet[ServiceHolder]] = weakref.WeakSet()

    def __init__(self, settings: Settings, factory: Callable[[Settings], Any] | None) -> None:
        self.settings = settings
        self.factory = factory or _default_service
        self._service: Any = None
        self._lock = threading.Lock()
        #: The per-god pending-dispatch flags this worker's tasks clear before claiming.
        self.flags = PendingFlags(settings)
        ServiceHolder._all.add(self)

    def get(self) -> Any:
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


def _default_service(settings: Settings) -> Any:
    from pantheon.training.service import TrainingService

    return TrainingService(settings)


def _fresh_service_per_child(**_: Any) -> None:
    ServiceHolder.reset_all()


worker_process_init.connect(_fresh_service_per_child, weak=False)


def send_follow_up(app: Celery, flags: PendingFlags, god: str, outcome_id: int) -> str | None:
    """One more online task for ``god`` unless one is pending (the dispatch flag's rule)."""
    task_id = str(uuid.uuid4())
    if flags.claim(god, task_id) is not None:
        return None  # a pending task deletes the flag, then claims this backlog too
    try:
        app.send_task(
            queues.TRAIN_FROM_OUTCOME,
            kwargs={"outcome_id": outcome_id},
            queue=queues.FAST,
            task_id=task_id,
        )
    except SoftTimeLimitExceeded:  # the task's time is up: let it end
        raise
    except Exception as exc:  # the outbox sweep still trains the backlog
        flags.clear(god)
        log.warning("follow-up online task for %s not sent: %s", god, exc)
        return None
    return task_id


def _execute(
    task: Task, name: str, holder: ServiceHolder, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Run the task with its outcome id and god on every record it logs (JSON logs)."""
    god = kwargs.get("god_name") or kwargs.get("god")
    # The task id and name too: threads the task starts (one per god) inherit them.
    with log_context(
        task_id=task.request.id, task=name, outcome_id=kwargs.get("outcome_id"), god=god
    ):
        return _execute_in_context(task, name, holder, args, kwargs)


def _execute_in_context(
    task: Task, name: str, holder: ServiceHolder, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    settings = holder.settings
    policy = RETRY_POLICIES[name]
    app = task.app

    def redispatch(task_name: str, task_kwargs: dict[str, Any]) -> Any:
        return app.send_task(task_name, kwargs=task_kwargs, queue=queues.queue_for(task_name))

    def follow_up(god: str, outcome_id: int) -> str | None:
        return send_follow_up(app, holder.flags, god, outcome_id)

    try:
        kwargs = bind_positional(name, args, kwargs)
        ctx = Context(
            settings=settings,
            task_id=task.request.id,
            redispatch=redispatch,
            clear_pending=holder.flags.clear if holder.flags.enabled else None,
            follow_up=follow_up,
        )
        return run_operation(name, holder.get(), kwargs, ctx)
    except PermanentTaskError:
        raise
    except SoftTimeLimitExceeded as exc:
        log.warning("%s[%s] hit its soft time limit; rolled back", name, task.request.id)
        _retry(task, name, policy, settings, exc)
    except PantheonError as exc:
        if not exc.transient:
            log.warning("%s[%s] failed permanently: %s", name, task.request.id, exc.message)
            raise PermanentTaskError(public_reason(exc)) from None
        _retry(task, name, policy, settings, exc)
    except _transient_errors() as exc:
        _retry(task, name, policy, settings, exc)
    raise AssertionError("unreachable")  # pragma: no cover


_rng = random.Random()  # jitter only; not security-relevant


def _retry(
    task: Task, name: str, policy: RetryPolicy, settings: Settings, exc: BaseException
) -> None:
    retries = int(task.request.retries or 0)
    reason = f"{type(exc).__name__}: {exc}"
    if retries >= policy.max_retries:
        log.error("%s[%s] gave up after %d retries: %s", name, task.request.id, retries, reason)
        raise PermanentTaskError(
            f"gave up after {retries} retr{'y' if retries == 1 else 'ies'}: {public_reason(exc)}"
        ) from None
    countdown = backoff(policy, retries, settings.task_retry_delay_scale, _rng)
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
    app: Celery, settings: Settings, service_factory: Callable[[Settings], Any] | None
) -> dict[str, Task]:
    """Register every task of :data:`pantheon.worker.queues.TASK_QUEUES` on ``app``."""
    holder = ServiceHolder(settings, service_factory)
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
        )(_make_body(name, holder))
    return registered


def _make_body(name: str, holder: ServiceHolder) -> Callable[..., dict[str, Any]]:
    def body(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _execute(self, name, holder, args, kwargs)

    body.__name__ = name.rsplit(".", 1)[-1]
    body.__qualname__ = body.__name__
    body.__doc__ = f"Celery task {name} (queue {queues.TASK_QUEUES[name]})."
    return body
