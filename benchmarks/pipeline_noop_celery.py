"""A benchmark-only Celery app: the product's settings plus one no-op task.

    celery -A benchmarks.pipeline_noop_celery worker -Q bench_noop --concurrency 2

Built by the product's ``create_celery(Settings())`` (same serializer, prefetch, acks-late,
max-tasks-per-child, time limits, broker options), so the no-op task drains under exactly
the worker settings the training tasks do. The no-op task is registered here only: it is
never part of the product's task list.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery

from pantheon.config import Settings
from pantheon.worker.celery_app import create_celery

NOOP_TASK = "bench.pipeline.noop"
NOOP_QUEUE = "bench_noop"


def create_noop_app(settings: Settings) -> Celery:
    app = create_celery(settings)

    @app.task(name=NOOP_TASK, queue=NOOP_QUEUE)  # type: ignore[untyped-decorator]
    def noop(**kwargs: Any) -> None:
        """Does nothing: what a task costs when the work itself is free."""
        return None

    return app


@lru_cache(maxsize=1)
def _environment_app() -> Celery:
    return create_noop_app(Settings())


def __getattr__(name: str) -> Any:
    # Built on first access (what ``celery -A`` does), so importing connects to nothing.
    if name == "app":
        return _environment_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
