from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import pytest

from pantheon.errors import BrokerUnavailableError, NotFoundError
from pantheon.testing import free_port
from pantheon.worker import celery_tasks, queues
from pantheon.worker.dispatch import Dispatcher
from pantheon.worker.tasks import Result
from tests.fakes.service import FakeService

pytestmark = pytest.mark.unit


@pytest.fixture
def service(tmp_path: Path) -> FakeService:
    return FakeService(tmp_path / "fake.db")


def _wait_state(dispatcher: Dispatcher, task_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = dispatcher.get_task_result(task_id)
        if state["state"] in ("SUCCESS", "FAILURE"):
            return state
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} did not finish")


def test_sync_mode_runs_fast_tasks_inline_and_keeps_results(
    make_settings: Any,
    service: FakeService,
) -> None:
    dispatcher = Dispatcher(make_settings(task_mode="sync"), service)
    sent = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=3)
    assert sent.mode == "sync"
    assert sent.result is not None
    assert sent.result["status"] == "success"
    stored = dispatcher.get_task_result(str(sent.task_id))
    assert stored["state"] == "SUCCESS"
    assert cast(Result, stored["result"])["outcome_id"] == 3
    assert service.trained() == [3]


def test_sync_mode_runs_batch_jobs_in_the_background(
    make_settings: Any,
    service: FakeService,
) -> None:
    dispatcher = Dispatcher(make_settings(task_mode="sync"), service)
    sent = dispatcher.dispatch(queues.HOURLY_BATCH, god_name="zeus")
    assert sent.mode == "sync"
    assert sent.result is None
    assert _wait_state(dispatcher, str(sent.task_id))["result"]["god_name"] == "zeus"
    failed = dispatcher.dispatch(queues.HOURLY_BATCH, god_name="nobody")
    state = _wait_state(dispatcher, str(failed.task_id))
    assert state["state"] == "FAILURE"
    assert "unknown god" in state["error"]


def test_sync_errors(make_settings, service: FakeService) -> None:  # type: ignore[no-untyped-def]
    dispatcher = Dispatcher(make_settings(task_mode="sync"), service)
    with pytest.raises(NotFoundError):
        dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=-1)
    deferred = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=1001)
    assert deferred.mode == "deferred"
    assert deferred.task_id is None
    assert service.trained() == []


def test_auto_mode_with_no_broker_runs_in_process(
    make_settings: Any,
    service: FakeService,
) -> None:
    settings = make_settings(task_mode="auto", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    dispatcher = Dispatcher(settings, service)
    sent = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=9)
    assert sent.mode == "sync"
    assert service.trained() == [9]
    assert dispatcher.celery_available() is False
    assert dispatcher.queue_depths() == dict.fromkeys(queues.ALL_QUEUES)
    assert dispatcher.workers() is None
    assert dispatcher.beat_alive() is None
    with pytest.raises(BrokerUnavailableError):
        dispatcher.get_task_result("an-id-only-celery-could-know")


class _DeadBrokerApp:
    """An app whose publish fails, as when the broker dies between the check and the send."""

    def __init__(self) -> None:
        self.sent = 0

    def send_task(self, *_a: Any, **_k: Any) -> Any:
        self.sent += 1
        raise ConnectionError("broker went away")


def test_publish_failure_falls_back_to_in_process_exactly_once(
    make_settings: Any,
    service: FakeService,
) -> None:
    app = _DeadBrokerApp()
    dispatcher = Dispatcher(make_settings(task_mode="celery"), service, app=app)
    sent = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=4)
    assert app.sent == 1
    assert sent.mode == "sync"
    assert service.trained() == [4]


def test_in_process_runs_are_counted(make_settings, service: FakeService) -> None:  # type: ignore[no-untyped-def]
    celery_tasks.reset_local()
    dispatcher = Dispatcher(make_settings(task_mode="sync"), service)
    dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=5)
    dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=5)
    counts = celery_tasks.snapshot()[queues.TRAIN_FROM_OUTCOME]
    assert counts["success"] == 2
    assert counts["duplicate"] == 1
    assert counts["duration_count"] == 2
