"""Dispatcher helpers against a real Redis and RabbitMQ with no worker running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pantheon.worker import celery_tasks, queues
from pantheon.worker.celery_app import create_celery
from pantheon.worker.dispatch import Dispatcher
from tests.fakes.service import FakeService

pytestmark = pytest.mark.integration


def test_no_worker_means_sync_and_depths_are_read(
    make_settings: Any,
    redis_url: str,
    tmp_path: Path,
) -> None:
    settings = make_settings(task_mode="auto", redis_url=redis_url)
    service = FakeService(tmp_path / "fake.db")
    dispatcher = Dispatcher(settings, service)
    assert dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=1).mode == "sync"
    assert dispatcher.workers() == []
    assert dispatcher.beat_alive() is False
    assert dispatcher.queue_depths() == dict.fromkeys(queues.ALL_QUEUES, 0)
    app = create_celery(settings)
    for _ in range(3):
        app.send_task(queues.HOURLY_BATCH_ALL, queue=queues.BATCH)
    assert dispatcher.queue_depths()[queues.BATCH] == 3


def test_queue_depths_on_rabbitmq(make_settings, rabbitmq_url: str, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(celery_broker_url_raw=rabbitmq_url, redis_url=redis_url)
    depths = Dispatcher(settings).queue_depths()
    assert set(depths) == set(queues.ALL_QUEUES)
    assert all(isinstance(v, int) and v >= 0 for v in depths.values())


def test_worker_counts_reach_the_web_through_redis(make_settings, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(redis_url=redis_url)
    celery_tasks.reset_local()
    celery_tasks.record_redis(settings, queues.SYNC_SHADOWS, "success", 2.0, {"status": "success"})
    celery_tasks.record_redis(settings, queues.SYNC_SHADOWS, "success", 1.0, {"status": "skipped"})
    celery_tasks.record_redis(settings, queues.SYNC_SHADOWS, "retry", None)
    counts = celery_tasks.snapshot(settings)[queues.SYNC_SHADOWS]
    assert (counts["success"], counts["retry"], counts["duplicate"]) == (2, 1, 1)
    assert counts["duration_sum"] == pytest.approx(3.0)
