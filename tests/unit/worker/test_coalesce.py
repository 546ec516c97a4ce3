"""Per-god coalescing of online-training dispatch: the flag, the dispatcher, the task side."""

from __future__ import annotations

import gc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pantheon.training.online import BeforeClaim, FollowUp, OnlineResult
from pantheon.worker import queues
from pantheon.worker.celery_app import celery_config, prepare_parent_heap
from pantheon.worker.coalesce import CeleryBackend, PendingFlags, pending_key
from pantheon.worker.dispatch import Dispatcher
from pantheon.worker.tasks import TaskEnv, run_task
from tests.fakes.service import FakeService

pytestmark = pytest.mark.unit


class FakeRedis:
    """``SET NX PX GET`` / ``DEL`` over a dict (expiry is not modelled)."""

    def __init__(self, fail: bool = False) -> None:
        self.data: dict[str, bytes] = {}
        self.fail = fail
        self.ops: list[tuple[str, str]] = []

    def _check(self) -> None:
        if self.fail:
            raise ConnectionError("redis is down")

    def set(
        self, key: str, value: str, nx: bool = False, px: int | None = None, get: bool = False
    ) -> bytes | None:
        self._check()
        assert nx
        assert get
        assert px is not None
        assert px > 0
        self.ops.append(("set", key))
        if key in self.data:
            return self.data[key]
        self.data[key] = value.encode()
        return None

    def delete(self, key: str) -> int:
        self._check()
        self.ops.append(("del", key))
        return 1 if self.data.pop(key, None) is not None else 0


def god(outcome_id: int) -> str:
    """The god of an outcome in these tests (even ids: zeus, odd: athena)."""
    return "zeus" if outcome_id % 2 == 0 else "athena"


class RecordingApp:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []
        self.fail = fail

    def send_task(self, name: str, *, kwargs: dict[str, Any], task_id: str, **_: Any) -> Any:
        if self.fail:
            raise ConnectionError("broker went away")
        self.sent.append((name, kwargs, task_id))
        return SimpleNamespace(id=task_id)


def _dispatcher(
    make_settings: Any, service: Any, app: Any, redis: FakeRedis, **settings: Any
) -> Dispatcher:
    settings_ = make_settings(task_mode="celery", **settings)
    flags = PendingFlags(settings_, client=redis)  # type: ignore[arg-type]  # the fake Redis
    return Dispatcher(settings_, service, app=app, flags=flags)


def test_flag_is_taken_once_until_cleared(make_settings: Any) -> None:
    redis = FakeRedis()
    flags = PendingFlags(make_settings(), client=redis)  # type: ignore[arg-type]  # the fake Redis
    assert flags.claim("zeus", "task-1") is None
    assert flags.claim("zeus", "task-2") == "task-1"
    assert flags.claim("athena", "task-3") is None
    flags.clear("zeus")
    assert flags.claim("zeus", "task-4") is None
    assert redis.data[pending_key("zeus")] == b"task-4"


def test_flag_trouble_or_zero_ttl_means_send(make_settings: Any) -> None:
    down = PendingFlags(
        make_settings(),
        client=FakeRedis(fail=True),  # type: ignore[arg-type]  # the fake Redis
    )
    assert down.claim("zeus", "a") is None
    assert down.claim("zeus", "b") is None
    down.clear("zeus")  # logged, not raised
    off = PendingFlags(
        make_settings(train_dispatch_coalesce_seconds=0),
        client=FakeRedis(),  # type: ignore[arg-type]  # the fake Redis
    )
    assert not off.enabled
    assert off.claim("zeus", "a") is None
    assert off.claim("zeus", "b") is None


def test_dispatcher_sends_one_task_per_pending_god(make_settings: Any, tmp_path: Path) -> None:
    app, redis = RecordingApp(), FakeRedis()
    dispatcher = _dispatcher(make_settings, FakeService(tmp_path / "f.db"), app, redis)
    results = [
        dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=i, god_name=god(i))
        for i in range(6)
    ]
    assert [kw["outcome_id"] for _, kw, _ in app.sent] == [0, 1]
    assert [r.skipped_for_pending for r in results] == [False, False, True, True, True, True]
    assert {r.task_id for r in results[2::2]} == {app.sent[0][2]}  # zeus's pending task
    assert {r.task_id for r in results[3::2]} == {app.sent[1][2]}
    assert all(r.mode == "celery" for r in results)
    assert dispatcher.outcome_dispatches == {"sent": 2, "skipped_for_pending": 4}
    redis.delete(pending_key("zeus"))  # zeus's task started
    dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=6, god_name="zeus")
    assert [kw["outcome_id"] for _, kw, _ in app.sent] == [0, 1, 6]
    assert app.sent[-1][1] == {"outcome_id": 6, "god_name": "zeus"}  # the worker's log label
    assert redis.ops.count(("set", pending_key("zeus"))) == 4  # one round trip per dispatch


def test_dispatcher_without_coalescing_sends_every_outcome(
    make_settings: Any, tmp_path: Path
) -> None:
    app, redis = RecordingApp(), FakeRedis()
    service = FakeService(tmp_path / "f.db")
    dispatcher = _dispatcher(make_settings, service, app, redis, train_dispatch_coalesce_seconds=0)
    for i in range(4):
        dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=i, god_name=god(i))
    dispatcher.dispatch(queues.HOURLY_BATCH, god_name="zeus")
    assert len(app.sent) == 5
    assert redis.ops == []


def test_failed_publish_clears_the_flag_and_runs_here(make_settings: Any, tmp_path: Path) -> None:
    redis = FakeRedis()
    service = FakeService(tmp_path / "f.db")
    dispatcher = _dispatcher(make_settings, service, RecordingApp(fail=True), redis)
    sent = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=2, god_name="zeus")
    assert sent.mode == "sync"
    assert service.trained() == [2]
    assert pending_key("zeus") not in redis.data  # the next zeus outcome is sent, not skipped


def test_task_hands_the_flag_clear_to_the_service(make_settings: Any, tmp_path: Path) -> None:
    """The service calls the hook once it knows the god, before its claim (the order is
    the service's own test: test_before_claim_hook_runs_once_before_the_claim)."""
    events: list[str] = []

    class Traced(FakeService):
        def train_from_outcome(
            self,
            outcome_id: int,
            *,
            before_claim: BeforeClaim | None = None,
            follow_up: FollowUp | None = None,
        ) -> OnlineResult:
            assert before_claim is not None
            before_claim("zeus")
            events.append(f"train {outcome_id}")
            return super().train_from_outcome(outcome_id)

    service = Traced(tmp_path / "f.db")
    env = TaskEnv(
        training=service,
        settings=make_settings(),
        task_id="t",
        before_claim=lambda god: events.append(f"clear {god}"),
    )
    run_task(queues.TRAIN_FROM_OUTCOME, env, {"outcome_id": 4, "god_name": "zeus"})
    assert events == ["clear zeus", "train 4"]


def test_worker_config_guards_memory_and_freezes_the_parent_heap(make_settings: Any) -> None:
    config = celery_config(make_settings(worker_max_memory_per_child_kb=300_000))
    assert config["worker_max_memory_per_child"] == 300_000
    assert config["worker_max_tasks_per_child"] == 1000
    try:
        prepare_parent_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_follow_up_is_sent_only_when_no_task_is_pending(make_settings: Any) -> None:
    redis, app = FakeRedis(), RecordingApp()
    backend = CeleryBackend(
        lambda: app,
        PendingFlags(make_settings(), client=redis),  # type: ignore[arg-type]  # the fake Redis
    )
    sent = backend.follow_up("zeus", 40)
    assert sent is not None
    assert app.sent == [(queues.TRAIN_FROM_OUTCOME, {"outcome_id": 40, "god_name": "zeus"}, sent)]
    assert backend.follow_up("zeus", 41) is None
    assert len(app.sent) == 1
    backend.flags.clear("zeus")
    failing = CeleryBackend(lambda: RecordingApp(fail=True), backend.flags)
    assert failing.follow_up("zeus", 42) is None
    assert pending_key("zeus") not in redis.data  # nothing sent: nothing may hold the flag


def test_result_backend_gives_up_fast_when_redis_is_down(make_settings: Any) -> None:
    options = celery_config(make_settings())["result_backend_transport_options"]
    policy = options["retry_policy"]
    # Worst case of retry_over_time: the sum of the waits between attempts.
    waits = [
        min(policy["interval_start"] + i * policy["interval_step"], policy["interval_max"])
        for i in range(policy["max_retries"])
    ]
    assert sum(waits) <= 2.0
