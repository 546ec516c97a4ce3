"""Per-god coalescing of online-training dispatch: the flag, the dispatcher, the task side."""

from __future__ import annotations

import gc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pantheon.worker import queues
from pantheon.worker.celery_app import celery_config, prepare_parent_heap
from pantheon.worker.coalesce import PendingFlags, pending_key
from pantheon.worker.dispatch import Dispatcher
from pantheon.worker.operations import Context, run_operation
from pantheon.worker.tasks import send_follow_up
from tests.fakes.service import FakeService

pytestmark = pytest.mark.unit


class FakeRedis:
    """``SET NX PX`` / ``GET`` / ``DEL`` over a dict (expiry is not modelled)."""

    def __init__(self, fail: bool = False) -> None:
        self.data: dict[str, bytes] = {}
        self.fail = fail
        self.ops: list[tuple[str, str]] = []

    def _check(self) -> None:
        if self.fail:
            raise ConnectionError("redis is down")

    def set(self, key: str, value: str, nx: bool = False, px: int | None = None) -> bool:
        self._check()
        assert nx
        assert px is not None
        assert px > 0
        self.ops.append(("set", key))
        if key in self.data:
            return False
        self.data[key] = value.encode()
        return True

    def get(self, key: str) -> bytes | None:
        self._check()
        return self.data.get(key)

    def delete(self, key: str) -> int:
        self._check()
        self.ops.append(("del", key))
        return 1 if self.data.pop(key, None) is not None else 0


class GodService(FakeService):
    """The fake service, knowing each outcome's god (even ids: zeus, odd: athena)."""

    def god_of_outcome(self, outcome_id: int) -> str:
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
    dispatcher = Dispatcher(make_settings(task_mode="celery", **settings), service, app=app)
    dispatcher._flags = PendingFlags(dispatcher.settings, client=redis)
    return dispatcher


def test_flag_is_taken_once_until_cleared(make_settings: Any) -> None:
    redis = FakeRedis()
    flags = PendingFlags(make_settings(), client=redis)
    assert flags.claim("zeus", "task-1") is None
    assert flags.claim("zeus", "task-2") == "task-1"
    assert flags.claim("athena", "task-3") is None
    flags.clear("zeus")
    assert flags.claim("zeus", "task-4") is None
    assert redis.data[pending_key("zeus")] == b"task-4"


def test_flag_trouble_or_zero_ttl_means_send(make_settings: Any) -> None:
    down = PendingFlags(make_settings(), client=FakeRedis(fail=True))
    assert down.claim("zeus", "a") is None
    assert down.claim("zeus", "b") is None
    down.clear("zeus")  # logged, not raised
    off = PendingFlags(make_settings(train_dispatch_coalesce_seconds=0), client=FakeRedis())
    assert not off.enabled
    assert off.claim("zeus", "a") is None
    assert off.claim("zeus", "b") is None


def test_dispatcher_sends_one_task_per_pending_god(make_settings: Any, tmp_path: Path) -> None:
    app, redis = RecordingApp(), FakeRedis()
    dispatcher = _dispatcher(make_settings, GodService(tmp_path / "f.db"), app, redis)
    results = [dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=i) for i in range(6)]
    assert [kw["outcome_id"] for _, kw, _ in app.sent] == [0, 1]
    assert [r.coalesced for r in results] == [False, False, True, True, True, True]
    assert {r.task_id for r in results[2::2]} == {app.sent[0][2]}  # zeus's pending task
    assert {r.task_id for r in results[3::2]} == {app.sent[1][2]}
    assert all(r.mode == "celery" for r in results)
    assert dispatcher.outcome_dispatches == {"sent": 2, "coalesced": 4}
    redis.delete(pending_key("zeus"))  # zeus's task started
    dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=6)
    assert [kw["outcome_id"] for _, kw, _ in app.sent] == [0, 1, 6]


def test_dispatcher_without_coalescing_sends_every_outcome(
    make_settings: Any, tmp_path: Path
) -> None:
    app, redis = RecordingApp(), FakeRedis()
    service = GodService(tmp_path / "f.db")
    dispatcher = _dispatcher(make_settings, service, app, redis, train_dispatch_coalesce_seconds=0)
    for i in range(4):
        dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=i)
    dispatcher.dispatch(queues.HOURLY_BATCH, god_name="zeus")
    assert len(app.sent) == 5
    assert redis.ops == []


def test_failed_publish_clears_the_flag_and_runs_here(make_settings: Any, tmp_path: Path) -> None:
    redis = FakeRedis()
    service = GodService(tmp_path / "f.db")
    dispatcher = _dispatcher(make_settings, service, RecordingApp(fail=True), redis)
    sent = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=2)
    assert sent.mode == "sync"
    assert service.trained() == [2]
    assert pending_key("zeus") not in redis.data  # the next zeus outcome is sent, not skipped


def test_task_clears_the_flag_before_it_trains(make_settings: Any, tmp_path: Path) -> None:
    events: list[str] = []

    class Traced(GodService):
        def train_from_outcome(self, outcome_id: int) -> dict[str, Any]:
            events.append(f"train {outcome_id}")
            return super().train_from_outcome(outcome_id)

    ctx = Context(
        settings=make_settings(),
        task_id="t",
        clear_pending=lambda god: events.append(f"clear {god}"),
    )
    run_operation(queues.TRAIN_FROM_OUTCOME, Traced(tmp_path / "f.db"), {"outcome_id": 4}, ctx)
    assert events == ["clear zeus", "train 4"]


def test_duplicate_task_still_trains_its_gods_skipped_outcomes(
    make_settings: Any, tmp_path: Path
) -> None:
    service = GodService(tmp_path / "f.db")
    ctx = Context(settings=make_settings(), task_id="t", clear_pending=lambda _god: None)
    service.train_from_outcome(3)  # trained by another task's drain
    service.add_pending(5, 7)  # dispatches skipped for this task's flag (fake: odd → god1)

    class SameGod(GodService):
        def god_of_outcome(self, outcome_id: int) -> str:
            return "god1"

    twin = SameGod(tmp_path / "f.db")
    result = run_operation(queues.TRAIN_FROM_OUTCOME, twin, {"outcome_id": 3}, ctx)
    assert result["status"] == "duplicate"
    assert result["followed_by"]["outcome_id"] == 5
    assert 5 in twin.trained()


def test_worker_config_guards_memory_and_freezes_the_parent_heap(make_settings: Any) -> None:
    config = celery_config(make_settings(worker_max_memory_per_child_kb=300_000))
    assert config["worker_max_memory_per_child"] == 300_000
    assert config["worker_max_tasks_per_child"] == 10
    try:
        prepare_parent_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_drain_out_of_time_queues_one_follow_up(make_settings: Any, tmp_path: Path) -> None:
    class Backlogged(GodService):
        def train_from_outcome(self, outcome_id: int) -> dict[str, Any]:
            result = super().train_from_outcome(outcome_id)
            return {**result, "god_name": "zeus", "next_outcome_id": 40}

    asked: list[tuple[str, int]] = []

    def follow_up(god: str, outcome_id: int) -> str:
        asked.append((god, outcome_id))
        return "task-next"

    ctx = Context(settings=make_settings(), task_id="t", follow_up=follow_up)
    service = Backlogged(tmp_path / "f.db")
    result = run_operation(queues.TRAIN_FROM_OUTCOME, service, {"outcome_id": 2}, ctx)
    assert asked == [("zeus", 40)]
    assert result["follow_up_task_id"] == "task-next"


def test_follow_up_is_sent_only_when_no_task_is_pending(make_settings: Any) -> None:
    redis, app = FakeRedis(), RecordingApp()
    flags = PendingFlags(make_settings(), client=redis)
    sent = send_follow_up(app, flags, "zeus", 40)
    assert sent is not None
    assert app.sent == [(queues.TRAIN_FROM_OUTCOME, {"outcome_id": 40}, sent)]
    assert send_follow_up(app, flags, "zeus", 41) is None
    assert len(app.sent) == 1
    flags.clear("zeus")
    assert send_follow_up(RecordingApp(fail=True), flags, "zeus", 42) is None
    assert pending_key("zeus") not in redis.data  # nothing sent: nothing may hold the flag


def test_a_soft_time_limit_is_never_swallowed_by_the_god_lookup() -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    from pantheon.worker.coalesce import god_of_outcome

    class TimedOut:
        def god_of_outcome(self, outcome_id: int) -> str:
            raise SoftTimeLimitExceeded()

    with pytest.raises(SoftTimeLimitExceeded):
        god_of_outcome(TimedOut(), 1)


def test_result_backend_gives_up_fast_when_redis_is_down(make_settings: Any) -> None:
    options = celery_config(make_settings())["result_backend_transport_options"]
    policy = options["retry_policy"]
    # Worst case of retry_over_time: the sum of the waits between attempts.
    waits = [
        min(policy["interval_start"] + i * policy["interval_step"], policy["interval_max"])
        for i in range(policy["max_retries"])
    ]
    assert sum(waits) <= 2.0
