"""``pantheon worker | beat | serve | up``: the three services, and all of them in one.

``worker`` consumes every queue unless ``--queues`` picks some; ``beat`` runs the schedule
behind the redbeat leader lock; ``serve`` runs the web service; ``up`` is the embedded mode
(web + in-process tasks + embedded scheduler, SQLite by default, no other service).
Their arguments are in :mod:`pantheon.cli.services_args`.
"""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn
from kombu.utils.url import maybe_sanitize_url

from pantheon.api.app import create_app
from pantheon.api.deps import AppState
from pantheon.config import Settings
from pantheon.store.migrate import ensure_schema
from pantheon.worker import queues
from pantheon.worker.celery_app import beat_redis_url, create_celery
from pantheon.worker.embedded import EmbeddedScheduler

log = logging.getLogger(__name__)


def _safe_url(url: str) -> str:
    return str(maybe_sanitize_url(url))


def _loglevel(args: argparse.Namespace, settings: Settings) -> str:
    return str(getattr(args, "loglevel", None) or settings.log_level).upper()


def worker_name(chosen: list[str]) -> str:
    """``pantheon-fast-batch-slow-<pid>@<host>``: two workers on one host never share a name."""
    short = "-".join(n.removeprefix("training_") for n in chosen if n in queues.QUEUES) or "default"
    return f"pantheon-{short}-{os.getpid()}@%h"


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    chosen = queues.parse_queues(args.queues)
    concurrency = args.concurrency or settings.worker_concurrency
    app = create_celery(settings)
    log.info(
        "pantheon worker: queues=%s concurrency=%d broker=%s results=%s max_tasks_per_child=%d "
        "max_memory_per_child_kb=%d dispatch_coalesce_s=%g",
        ",".join(chosen),
        concurrency,
        _safe_url(settings.celery_broker_url),
        _safe_url(settings.celery_result_backend),
        settings.worker_max_tasks_per_child,
        settings.worker_max_memory_per_child_kb,
        settings.train_dispatch_coalesce_seconds,
    )
    app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(chosen),
            "--concurrency",
            str(concurrency),
            "--loglevel",
            _loglevel(args, settings),
            "--hostname",
            worker_name(chosen),
        ]
    )
    return 0


def run_beat(args: argparse.Namespace, settings: Settings) -> int:
    app = create_celery(settings)
    log.info(
        "pantheon beat: redbeat lock at %s (timeout %.0fs); standby until the lock is free",
        _safe_url(beat_redis_url(settings)),
        settings.beat_lock_timeout,
    )
    app.start(["beat", "--loglevel", _loglevel(args, settings)])
    return 0


def _bind(args: argparse.Namespace, settings: Settings) -> tuple[str, int]:
    return args.host or settings.bind_host, int(args.port or settings.port)


def _no_beat() -> bool:
    """In sync mode no Beat can run, so the embedded scheduler never stands by for one."""
    return False


def serve(settings: Settings, host: str, port: int, *, embedded: bool) -> int:
    settings.require_safe_for_production()
    # The web app's own objects: in-process tasks share its service and connection pool.
    state = AppState.build(settings)
    available = settings.task_mode != "sync" and state.dispatcher.celery_available()
    log.info("Celery available: %s (task mode %s)", available, settings.task_mode)
    web_app = create_app(settings, state=state)
    scheduler: EmbeddedScheduler | None = None
    if embedded and settings.embedded_scheduler and settings.task_mode != "celery":
        beat_alive = _no_beat if settings.task_mode == "sync" else None
        scheduler = EmbeddedScheduler(settings, state.dispatcher, beat_alive=beat_alive)
        scheduler.start()
    try:
        # log_config=None: uvicorn's loggers propagate to the one handler of pantheon.logs.
        uvicorn.run(
            web_app, host=host, port=port, log_level=settings.log_level.lower(), log_config=None
        )
    finally:
        if scheduler is not None:
            scheduler.stop()
    return 0


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    host, port = _bind(args, settings)
    return serve(settings, host, port, embedded=True)


def run_up(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.model_copy(update={"task_mode": "sync", "embedded_scheduler": True})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _upgrade_database(settings)
    host, port = _bind(args, settings)
    log.info(
        "pantheon up: embedded mode (web + in-process tasks + scheduler) on %s",
        "SQLite" if settings.is_sqlite else "the configured database",
    )
    return serve(settings, host, port, embedded=True)


def _upgrade_database(settings: Settings) -> None:
    ensure_schema(settings)
