from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from kombu.exceptions import OperationalError

from pantheon.errors import ValidationError
from pantheon.worker import celery_tasks, queues
from pantheon.worker.celery_app import celery_config, create_celery
from pantheon.worker.celery_tasks import (
    RETRY_POLICIES,
    PermanentTaskError,
    RetryPolicy,
    ServiceHolder,
    TaskRunner,
    backoff,
)
from pantheon.worker.legacy import bind_positional, normalize
from tests.fakes.service import FakeService

pytestmark = pytest.mark.unit


def test_config_keeps_the_seed_settings_and_makes_them_safe(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(worker_max_tasks_per_child=7)
    conf = celery_config(settings)
    assert conf["task_serializer"] == conf["result_serializer"] == "json"
    assert conf["accept_content"] == ["json"]
    assert conf["result_accept_content"] == ["json"]
    assert (conf["timezone"], conf["enable_utc"]) == ("UTC", True)
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["worker_max_tasks_per_child"] == 7
    assert conf["task_acks_late"]
    assert conf["task_reject_on_worker_lost"]
    assert (conf["result_expires"], conf["result_extended"]) == (3600, True)
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"]
    assert conf["broker_connection_retry_on_startup"]
    visibility = conf["broker_transport_options"]["visibility_timeout"]
    assert visibility == settings.broker_visibility_timeout > settings.slow_task_time_limit
    assert conf["result_backend_transport_options"]["visibility_timeout"] == visibility
    assert conf["redbeat_lock_timeout"] == round(settings.beat_lock_timeout)
    assert conf["beat_scheduler"] == "pantheon.worker.beat:PantheonScheduler"


def test_rabbitmq_broker_gets_no_redis_transport_options(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        celery_broker_url_raw="amqp://guest:guest@localhost:5672//",
        redis_url="redis://localhost:6379/3",
    )
    conf = celery_config(settings)
    assert conf["broker_transport_options"] == {}
    assert conf["redbeat_redis_url"] == "redis://localhost:6379/3"


def test_tasks_are_registered_with_queue_limits_and_retries(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(slow_task_soft_time_limit=900, slow_task_time_limit=1000)
    app = create_celery(settings)
    for name, queue in queues.TASK_QUEUES.items():
        task = app.tasks[name]
        assert app.amqp.router.route({}, name)["queue"].name == queue
        assert task.acks_late
        assert task.reject_on_worker_lost
        assert task.max_retries == RETRY_POLICIES[name].max_retries
        expected_soft = 900 if queue == queues.SLOW else settings.task_soft_time_limit
        assert task.soft_time_limit == expected_soft
    policies = {n: (p.max_retries, p.delay) for n, p in RETRY_POLICIES.items()}
    assert policies[queues.TRAIN_FROM_OUTCOME] == (3, 60.0)
    assert policies[queues.HOURLY_BATCH] == (2, 300.0)
    assert policies[queues.NIGHTLY] == (1, 600.0)


def test_backoff_grows_and_jitters() -> None:
    rng = random.Random(1)
    policy = RetryPolicy(3, 60.0)
    samples = [backoff(policy, r, 1.0, rng) for r in range(3) for _ in range(50)]
    first, third = samples[:50], samples[100:]
    assert all(30 <= s < 90 for s in first)
    assert all(120 <= s < 360 for s in third)
    assert len(set(first)) > 1
    assert backoff(policy, 2, 0.001, rng) < 0.4


def test_positional_arguments_follow_the_legacy_order() -> None:
    assert bind_positional(queues.HOURLY_BATCH, ("zeus",), {}) == {"god_name": "zeus"}
    assert bind_positional(queues.TRAIN_FROM_OUTCOME, (5,), {}) == {"outcome_id": 5}
    old = bind_positional(queues.TRAIN_FROM_OUTCOME, ("zeus", "p", "r", True), {"phi": 0.5})
    assert old == {"god_name": "zeus", "prompt": "p", "response": "r", "success": True, "phi": 0.5}
    with pytest.raises(ValidationError, match="twice"):
        bind_positional(queues.HOURLY_BATCH, ("zeus",), {"god_name": "hera"})
    with pytest.raises(ValidationError, match="at most"):
        bind_positional(queues.SYNC_SHADOWS, ("x",), {})


def test_legacy_god_alias_and_outcome_fields_are_normalised() -> None:
    assert normalize(queues.NIGHTLY, (), {"god": "apollo"}) == ({"god_name": "apollo"}, None)
    named, outcome = normalize(queues.TRAIN_FROM_OUTCOME, ("zeus", "p", "r", True), {})
    assert named == {}
    assert outcome == {"god_name": "zeus", "prompt": "p", "response": "r", "success": True}


class _RetryError(Exception):
    pass


def _run(task: Any, name: str, holder: ServiceHolder, kwargs: dict[str, Any]) -> Any:
    return TaskRunner(task.app, holder)(task, name, (), kwargs)


def _fake_task(retries: int) -> Any:
    calls: list[dict[str, Any]] = []

    def retry(**kwargs: Any) -> Exception:
        calls.append(kwargs)
        return _RetryError()

    return SimpleNamespace(
        request=SimpleNamespace(id="t", retries=retries), app=None, retry=retry, calls=calls
    )


@pytest.fixture
def holder(tmp_path: Path, make_settings) -> ServiceHolder:  # type: ignore[no-untyped-def]
    settings = make_settings(task_retry_delay_scale=0.01)
    return ServiceHolder(settings, lambda _s: FakeService(tmp_path / "fake.db"))


def test_transient_errors_retry_with_backoff(holder: ServiceHolder) -> None:
    task = _fake_task(retries=0)
    with pytest.raises(_RetryError):
        _run(task, queues.TRAIN_FROM_OUTCOME, holder, {"outcome_id": 1001})
    (call,) = task.calls
    assert call["max_retries"] == 3
    assert 0 < call["countdown"] < 1.0
    assert "blip" in str(call["exc"])


def test_retries_used_up_fail_with_the_reason(holder: ServiceHolder) -> None:
    task = _fake_task(retries=3)
    with pytest.raises(PermanentTaskError, match="gave up after 3 retries: DatabaseUnavailable"):
        _run(task, queues.TRAIN_FROM_OUTCOME, holder, {"outcome_id": 1009})
    assert task.calls == []


def test_permanent_errors_fail_at_once(holder: ServiceHolder) -> None:
    task = _fake_task(retries=0)
    with pytest.raises(PermanentTaskError, match=r"validation_error: .*unexpected"):
        _run(task, queues.SYNC_SHADOWS, holder, {"bogus": 1})
    with pytest.raises(PermanentTaskError, match="not_found"):
        _run(task, queues.TRAIN_FROM_OUTCOME, holder, {"outcome_id": -5})
    assert task.calls == []


@pytest.mark.parametrize("error", [SoftTimeLimitExceeded(), OperationalError("broker gone")])
def test_soft_limit_and_broker_errors_are_retried(
    holder: ServiceHolder, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def boom(*_a: Any, **_k: Any) -> Any:
        raise error

    monkeypatch.setattr(celery_tasks, "run_task", boom)
    task = _fake_task(retries=0)
    with pytest.raises(_RetryError):
        _run(task, queues.HOURLY_BATCH_ALL, holder, {})
    assert task.calls[0]["max_retries"] == 2


def test_service_is_built_once_per_process_and_reset_after_fork(holder: ServiceHolder) -> None:
    first = holder.get()
    assert holder.get() is first
    ServiceHolder.reset_all()
    assert holder.get() is not first
