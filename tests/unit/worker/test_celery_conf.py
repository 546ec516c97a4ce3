"""The Celery app's configuration: task events on, one exchange per queue, routes by name."""

from __future__ import annotations

import pytest
from celery import Celery
from celery.app.backends import by_url
from celery.app.utils import find_app

from pantheon.config import Settings
from pantheon.worker import celery_app, queues
from pantheon.worker.broker import RedisResults
from pantheon.worker.celery_app import create_celery

pytestmark = pytest.mark.unit


@pytest.fixture
def conf(tmp_path: object) -> object:
    settings = Settings(
        PANTHEON_ENV="test", CELERY_BROKER_URL="memory://", CELERY_RESULT_BACKEND="cache+memory://"
    )
    return create_celery(settings).conf


def test_task_events_are_on_by_default(conf: object) -> None:
    assert conf.worker_send_task_events is True  # type: ignore[attr-defined]
    assert conf.task_send_sent_event is True  # type: ignore[attr-defined]


def test_each_queue_has_its_own_exchange(conf: object) -> None:
    declared = {q.name: q for q in conf.task_queues}  # type: ignore[attr-defined]
    assert set(declared) == {*queues.QUEUES, "celery"}
    for name, queue in declared.items():
        assert queue.exchange.name == name
        assert queue.exchange.type == "direct"
        assert queue.routing_key == name
    assert len({q.exchange.name for q in declared.values()}) == 4


def test_a_task_sent_by_name_without_a_queue_is_routed_by_task_routes() -> None:
    settings = Settings(
        PANTHEON_ENV="test", CELERY_BROKER_URL="memory://", CELERY_RESULT_BACKEND="cache+memory://"
    )
    app = create_celery(settings)
    for name, queue in queues.TASK_QUEUES.items():
        route = app.amqp.router.route({}, name, (), {})
        assert route["queue"].name == queue
        assert route["queue"].exchange.name == queue


def test_celery_finds_the_app_with_dash_a_pantheon(monkeypatch: pytest.MonkeyPatch) -> None:
    """``celery -A pantheon`` resolves the name with Celery's own ``find_app``."""
    monkeypatch.setattr(celery_app, "_built", {})  # a fresh app from this environment
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "cache+memory://")
    found = find_app("pantheon")
    assert isinstance(found, Celery)
    assert queues.TRAIN_FROM_OUTCOME in found.tasks
    assert found.conf.worker_send_task_events is True


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/3", "rediss://cache.internal:6380/0"])
def test_a_redis_result_backend_is_the_one_that_does_not_subscribe_on_send(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)  # Celery reads it first
    settings = Settings(
        PANTHEON_ENV="test", CELERY_BROKER_URL="memory://", CELERY_RESULT_BACKEND=url
    )
    app = create_celery(settings)
    backend, found = by_url(url, app.loader)
    assert backend is RedisResults
    assert found == url
    assert app.conf.result_backend == url  # the setting itself stays the plain URL


def test_other_result_backends_are_celerys_own() -> None:
    settings = Settings(
        PANTHEON_ENV="test", CELERY_BROKER_URL="memory://", CELERY_RESULT_BACKEND="cache+memory://"
    )
    app = create_celery(settings)
    assert type(app.backend).__name__ == "CacheBackend"
