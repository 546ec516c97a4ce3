"""Dispatcher helpers against a real Redis and RabbitMQ with no worker running."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from pantheon.worker import celery_tasks, queues
from pantheon.worker.broker import celery_task_result
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


def _pubsub_clients(url: str) -> list[dict[str, str]]:
    """Connections to ``url``'s database that ever entered pub/sub (a subscribe seen)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        db = str(client.connection_pool.connection_kwargs.get("db", 0))
        return [
            c
            for c in client.client_list()
            if c.get("db") == db
            and (c.get("cmd") in ("subscribe", "unsubscribe") or int(c.get("sub", 0)) > 0)
        ]
    finally:
        client.close()


def test_sending_tasks_opens_no_result_subscription(
    make_settings: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web sends without subscribing to result channels (celery/celery#6963: Celery's
    Redis backend subscribes on send and the sender never reads them back), also when the
    result backend comes from the environment, which Celery reads over the app's setting."""
    monkeypatch.setenv("CELERY_RESULT_BACKEND", redis_url)
    settings = make_settings(task_mode="celery", redis_url=redis_url)
    dispatcher = Dispatcher(settings)
    try:
        sent = [dispatcher.dispatch(queues.HOURLY_BATCH_ALL) for _ in range(50)]
        assert all(s.mode == "celery" and s.task_id for s in sent)
        gc.collect()
        assert _pubsub_clients(redis_url) == []
    finally:
        dispatcher.close()


def test_a_caller_that_waits_still_hears_the_result(make_settings: Any, redis_url: str) -> None:
    settings = make_settings(task_mode="celery", redis_url=redis_url)
    sender, worker_side = create_celery(settings), create_celery(settings)
    task_id = str(sender.send_task(queues.HOURLY_BATCH_ALL, queue=queues.BATCH).id)

    def finish() -> None:  # what a worker does when the task ends: store and publish
        time.sleep(0.5)
        worker_side.backend.store_result(task_id, {"status": "success"}, "SUCCESS")

    thread = threading.Thread(target=finish)
    thread.start()
    started = time.monotonic()
    found = celery_task_result(sender, task_id, timeout=20)
    waited = time.monotonic() - started
    thread.join()
    assert found["state"] == "SUCCESS"
    assert found["result"] == {"status": "success"}
    assert 0.3 < waited < 10  # woken by the published result, not by the timeout
