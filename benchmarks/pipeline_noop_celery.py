"""Benchmark-only Celery apps with one no-op task: the product's settings, and Celery's own.

    celery -A benchmarks.pipeline_noop_celery worker -Q bench_noop --concurrency 2
    celery -A benchmarks.pipeline_noop_celery:default_app worker -Q bench_noop_default

``app`` is built by the product's ``create_celery(Settings())`` (same serializer, prefetch,
acks-late, max-tasks-per-child, time limits, broker options), so its no-op task drains
under exactly the worker settings the training tasks do. ``default_app`` is a plain
``Celery(broker=...)`` on the same broker with every other setting left at Celery's
default, and its worker gets no option but the queue: what a no-op task costs Celery
itself. The no-op tasks are registered here only: never part of the product's task list.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery

from pantheon.config import Settings
from pantheon.worker.celery_app import create_celery

NOOP_TASK = "bench.pipeline.noop"
NOOP_QUEUE = "bench_noop"
DEFAULT_QUEUE = "bench_noop_default"


def _add_noop(app: Celery, queue: str) -> Celery:
    @app.task(name=NOOP_TASK, queue=queue)  # type: ignore[untyped-decorator]
    def noop(**kwargs: Any) -> None:
        """Does nothing: what a task costs when the work itself is free."""
        return None

    return app


def create_noop_app(settings: Settings) -> Celery:
    return _add_noop(create_celery(settings), NOOP_QUEUE)


def create_default_app(broker_url: str) -> Celery:
    """Celery's defaults (JSON serializer, prefetch ×4, early ack, no child recycling)."""
    return _add_noop(Celery("bench-noop-default", broker=broker_url), DEFAULT_QUEUE)


@lru_cache(maxsize=1)
def _environment_app() -> Celery:
    return create_noop_app(Settings())


@lru_cache(maxsize=1)
def _environment_default_app() -> Celery:
    return create_default_app(Settings().celery_broker_url)


def __getattr__(name: str) -> Any:
    # Built on first access (what ``celery -A`` does), so importing connects to nothing.
    if name == "app":
        return _environment_app()
    if name == "default_app":
        return _environment_default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
