"""The Celery application, built from :class:`~pantheon.config.Settings`.

``celery -A pantheon.worker.celery_app worker -Q training_fast,training_batch,training_slow``
finds the module-level ``app``, built from the environment on first access (importing this
module connects to nothing). Tests and embedded code call :func:`create_celery` instead.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_init
from kombu.entity import Exchange, Queue

from pantheon.config import Settings
from pantheon.worker import kombu_guard, queues, schedule
from pantheon.worker import startup as _startup  # noqa: F401  (production check on worker start)
from pantheon.worker.broker import RESULT_BACKEND_CLASSES, is_redis_url, shared_redis_url
from pantheon.worker.celery_tasks import ServiceFactory, register_tasks

log = logging.getLogger(__name__)

#: ``result_expires`` of the seed: results are kept for one hour.
RESULT_EXPIRES_SECONDS = 3600
#: Connect timeout for Redis (broker and results), so a dead Redis fails fast.
REDIS_CONNECT_TIMEOUT = 2.0
#: At most ~1 s of retrying the result backend before the caller hears of the failure.
RESULT_BACKEND_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}


#: Where redbeat keeps the schedule and the leader lock (the shared Redis).
beat_redis_url = shared_redis_url


def beat_loop_interval(settings: Settings) -> float:
    """Beat wakes at least this often; a third of the lock timeout keeps the lock renewed."""
    return max(1.0, min(5.0, settings.beat_lock_timeout / 3.0))


def declared_queues() -> list[Queue]:
    """Each queue bound to its own direct exchange of the same name, routing key = name
    (as in https://docs.celeryq.dev/en/stable/userguide/routing.html#manual-routing).
    ``celery`` matches what a plain Celery client declares for its default queue."""
    return [
        Queue(name, Exchange(name, type="direct"), routing_key=name) for name in queues.ALL_QUEUES
    ]


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting Pantheon uses, derived from ``settings`` (JSON only, UTC)."""
    visibility = settings.broker_visibility_timeout
    broker_options: dict[str, Any] = {}
    if is_redis_url(settings.celery_broker_url):
        # Redis redelivers an unacked task after this; above the longest hard limit, so a
        # task still running is never delivered twice.
        broker_options = {
            "visibility_timeout": visibility,
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        }
    return {
        "broker_url": settings.celery_broker_url,
        "result_backend": settings.celery_result_backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "event_serializer": "json",
        # Task events on by default, so Flower and ``celery events`` see every task
        # (https://docs.celeryq.dev/en/stable/userguide/monitoring.html#events).
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "timezone": "UTC",
        "enable_utc": True,
        "worker_prefetch_multiplier": 1,
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child,
        "worker_max_memory_per_child": settings.worker_max_memory_per_child_kb,
        "worker_concurrency": settings.worker_concurrency,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "result_expires": RESULT_EXPIRES_SECONDS,
        "result_extended": True,
        "task_track_started": True,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "task_queues": declared_queues(),
        "task_default_queue": queues.FAST,
        "task_default_exchange": queues.FAST,
        "task_default_routing_key": queues.FAST,
        "task_routes": queues.task_routes(),
        "broker_transport_options": broker_options,
        "result_backend_transport_options": {
            "visibility_timeout": visibility,
            # Celery's default retries a lost result backend 20 times, a second apart: an
            # intake request would hang through a Redis outage. Give up fast; the outcome
            # is already stored and the outbox sweep trains it whatever happens here.
            "retry_policy": RESULT_BACKEND_RETRY_POLICY,
        },
        "redis_socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": REDIS_CONNECT_TIMEOUT,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "beat_scheduler": "pantheon.worker.beat:PantheonScheduler",
        "beat_schedule": schedule.beat_schedule(settings),
        "beat_max_loop_interval": beat_loop_interval(settings),
        "redbeat_redis_url": beat_redis_url(settings),
        "redbeat_lock_timeout": max(1, round(settings.beat_lock_timeout)),
        "redbeat_key_prefix": "pantheon:redbeat",
    }


def create_celery(settings: Settings, *, service_factory: ServiceFactory | None = None) -> Celery:
    """A Celery app for ``settings`` with the ten Pantheon tasks registered and routed.

    ``service_factory`` builds the training service once per worker process (default:
    :class:`pantheon.training.service.TrainingService`); tests pass a double.
    """
    schedule.expressions(settings)  # a bad PANTHEON_SCHEDULE_* fails here, not in Beat
    kombu_guard.install()
    app = Celery("pantheon", set_as_current=False)
    app.loader.override_backends = dict(RESULT_BACKEND_CLASSES)  # Redis: RedisResults
    app.conf.update(celery_config(settings))
    app.pantheon_settings = settings
    register_tasks(app, settings, service_factory)
    return app


#: Imported in the worker's parent before the pool forks, so a recycled child inherits them
#: instead of importing them inside its first task.
PRELOADED_MODULES = ("pantheon.training.service", "psycopg", "sqlalchemy.dialects.postgresql")


def prepare_parent_heap(**_: Any) -> None:
    """``worker_init``: preload the task modules, then ``gc.freeze()`` the heap.

    Celery runs ``gc.collect()`` before every fork of a pool child; frozen objects are
    skipped by it, so the cost of a fork no longer grows with everything imported.
    """
    for name in PRELOADED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional driver: the child imports what it needs
            log.debug("preloading %s failed: %s", name, exc)
    gc.collect()
    gc.freeze()
    log.info("worker parent: %d objects frozen before forking", gc.get_freeze_count())


worker_init.connect(prepare_parent_heap, weak=False)

_built: dict[str, Celery] = {}
_app_lock = threading.Lock()


def get_app() -> Celery:
    """The process-wide app built from the environment (what ``celery -A`` uses)."""
    with _app_lock:
        if "app" not in _built:
            _built["app"] = create_celery(Settings())
        return _built["app"]


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
