"""Read-only questions to the broker: live workers and their queues, queue depths, task
results, whether a Beat holds the leader lock. Each answers "unknown" rather than raise
when the broker is down (except a result read, which is the caller's question)."""

from __future__ import annotations

import logging
from typing import Any, TypedDict

import redis
from celery import Celery
from celery.backends.redis import RedisBackend
from celery.result import AsyncResult

from pantheon.config import Settings
from pantheon.errors import BrokerUnavailableError, public_reason
from pantheon.worker import queues

log = logging.getLogger(__name__)

#: Seconds a worker has to answer ``inspect active_queues``.
INSPECT_TIMEOUT = 0.5


def is_redis_url(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://", "redis+socket://"))


class RedisResults(RedisBackend):  # type: ignore[misc]
    """Celery's Redis result backend, minus the subscription it makes when a task is sent.

    Celery's ``RedisBackend.on_task_call`` subscribes the sender to the task's result
    channel, so that a later ``AsyncResult.get()`` hears the result pushed. The web and
    Beat send tasks and never wait on them that way; nothing then reads that pub/sub
    connection, so redis-py keeps every channel ever subscribed in its bookkeeping and
    the subscribe/unsubscribe confirmations pile up unread in the socket (celery/celery
    #6963, open): one entry and about 170 bytes per task sent. ``AsyncResult.get()``
    subscribes on its own before it reads the stored state and waits, so a caller that
    does wait (``celery_task_result`` with a timeout) still hears its result; the API's
    long poll reads the stored state and never subscribes.
    """

    def on_task_call(self, producer: object, task_id: str) -> None:
        """Send without subscribing (see the class)."""


#: The backend classes of the Redis URL schemes, for the app's loader
#: (``celery.app.backends.by_name`` lets ``loader.override_backends`` win over its own
#: aliases). The setting stays the plain URL, which Celery may take from the environment
#: (``CELERY_RESULT_BACKEND`` wins over the app's configuration, ``celery.app.utils``).
RESULT_BACKEND_CLASSES = dict.fromkeys(
    ("redis", "rediss"), f"{RedisResults.__module__}:{RedisResults.__qualname__}"
)


def shared_redis_url(settings: Settings) -> str:
    """The Redis every process agrees on for pending flags, task counters and the Beat
    schedule and lock: the broker when it is Redis, else the result backend, else
    ``REDIS_URL``."""
    if is_redis_url(settings.celery_broker_url):
        return settings.celery_broker_url
    if is_redis_url(settings.celery_result_backend):
        return settings.celery_result_backend
    return settings.redis_url


def probe_consumed_queues(app: Celery, timeout: float = INSPECT_TIMEOUT) -> frozenset[str]:
    """Ping the broker, then ask workers which queues they consume (empty on any failure)."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.1, timeout=2)
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception as exc:  # broker unreachable: that is the answer, not an error
        log.debug("broker check failed: %s", exc)
        return frozenset()
    return frozenset(
        str(queue.get("name")) for worker in replies.values() for queue in worker or ()
    )


class WorkerInfo(TypedDict):
    name: str
    queues: list[str]


def celery_task_result(app: Celery, task_id: str, timeout: float | None) -> dict[str, Any]:
    """A task's state from the result backend (its ``result`` is the task's JSON)."""
    result = AsyncResult(task_id, app=app)
    try:
        if timeout:
            result.get(timeout=timeout, propagate=False, disable_sync_subtasks=False)
        state = str(result.state)
        value = result.result
        name = getattr(result, "name", None)
    except Exception as exc:
        if type(exc).__name__ == "TimeoutError":
            return {
                "task_id": task_id,
                "state": "PENDING",
                "mode": "celery",
                "result": None,
                "error": None,
                "task_name": None,
            }
        raise BrokerUnavailableError(f"result backend unreachable: {exc}") from exc
    out: dict[str, Any] = {
        "task_id": task_id,
        "state": state,
        "mode": "celery",
        "task_name": name,
        "result": None,
        "error": None,
    }
    if state == "SUCCESS":
        out["result"] = value if isinstance(value, dict) else {"value": value}
    elif isinstance(value, BaseException):
        # The backend rebuilds the exception from JSON, so the class is matched by name. A
        # permanent failure's text is written to be shown (pantheon.errors.public_reason);
        # any other exception's text may name hosts or URLs, so only its type is shown.
        shown = type(value).__name__ == "PermanentTaskError"
        out["error"] = f"{type(value).__name__}: {value}" if shown else public_reason(value)
    return out


def queue_depths(app: Celery) -> dict[str, int | None]:
    """Messages waiting per queue (Celery's default ``celery`` queue included); ``None``
    for every queue when the broker is down."""
    depths: dict[str, int | None] = dict.fromkeys(queues.ALL_QUEUES)
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.1, timeout=2)
            for name in queues.ALL_QUEUES:
                channel = conn.channel()
                try:
                    depths[name] = int(channel.queue_declare(queue=name, passive=True)[1])
                except Exception:  # not declared yet: nobody ever sent to it
                    depths[name] = 0
                finally:
                    try:
                        channel.close()
                    except Exception:  # a channel the broker already closed
                        log.debug("closing an inspection channel failed", exc_info=True)
    except Exception as exc:
        log.debug("queue depth check failed: %s", exc)
        return dict.fromkeys(queues.ALL_QUEUES)
    return depths


def workers(app: Celery, timeout: float = INSPECT_TIMEOUT) -> list[WorkerInfo] | None:
    """Live workers and the queues each consumes; ``None`` when the broker is down."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.1, timeout=2)
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception as exc:
        log.debug("worker inspection failed: %s", exc)
        return None
    return [
        WorkerInfo(name=name, queues=sorted(str(q.get("name")) for q in consumed or ()))
        for name, consumed in sorted(replies.items())
    ]


def beat_alive(app: Celery) -> bool | None:
    """True while a Beat holds the redbeat leader lock; ``None`` when Redis is down."""
    conf = app.conf
    lock_key = str(conf.get("redbeat_key_prefix", "redbeat")) + ":lock"
    try:
        client = redis.Redis.from_url(
            str(conf.get("redbeat_redis_url")), socket_connect_timeout=1, socket_timeout=1
        )
        try:
            return bool(client.exists(lock_key))
        finally:
            client.close()
    except Exception as exc:
        log.debug("beat lock check failed: %s", exc)
        return None
