from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pantheon.errors import NotFoundError, ScheduleError, ValidationError
from pantheon.worker import queues
from pantheon.worker.legacy import outcome_key
from pantheon.worker.tasks import TaskEnv, run_task
from tests.fakes.service import FakeService

pytestmark = pytest.mark.unit

LEGACY = {
    "god_name": "zeus",
    "prompt": "what is 2+2",
    "response": "4",
    "success": True,
    "phi": 0.7,
    "kappa": 0.3,
    "coherence_score": 0.9,
    "basin_trajectory": None,
}


@pytest.fixture
def service(tmp_path: Path) -> FakeService:
    return FakeService(tmp_path / "fake.db")


@pytest.fixture
def sent() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def ctx(make_settings, service: FakeService, sent: list[Any]) -> TaskEnv:  # type: ignore[no-untyped-def]
    return TaskEnv(
        training=service,
        settings=make_settings(),
        task_id="t-1",
        send=lambda name, kwargs: sent.append((name, kwargs)),
    )


def run_operation(task: str, _service: FakeService, kwargs: Any, env: TaskEnv) -> dict[str, Any]:
    return run_task(task, env, kwargs)


def test_outcome_id_trains_once_then_duplicate(service: FakeService, ctx: TaskEnv) -> None:
    first = run_operation(queues.TRAIN_FROM_OUTCOME, service, {"outcome_id": 7}, ctx)
    again = run_operation(queues.TRAIN_FROM_OUTCOME, service, {"outcome_id": 7}, ctx)
    assert first["status"] == "success"
    assert first["outcome_id"] == 7
    assert again["status"] == "duplicate"
    assert service.trained() == [7]


def test_legacy_kwargs_store_the_outcome_first_with_a_message_key(
    service: FakeService, ctx: TaskEnv
) -> None:
    first = run_operation(queues.TRAIN_FROM_OUTCOME, service, LEGACY, ctx)
    redelivered = run_operation(queues.TRAIN_FROM_OUTCOME, service, LEGACY, ctx)
    assert first["outcome_id"] == redelivered["outcome_id"]
    assert redelivered["status"] == "duplicate"
    other = TaskEnv(training=service, settings=ctx.settings, task_id="t-2")
    again = run_operation(queues.TRAIN_FROM_OUTCOME, service, LEGACY, other)
    assert again["outcome_id"] != first["outcome_id"]
    assert again["status"] == "success"


def test_legacy_positional_outcome_is_stored_then_trained(
    service: FakeService, ctx: TaskEnv
) -> None:
    args = ("zeus", "what is 2+2", "4", True)
    result = run_task(queues.TRAIN_FROM_OUTCOME, ctx, {"phi": 0.5}, args)
    assert result["status"] == "success"
    assert service.trained() == [result["outcome_id"]]


def test_legacy_outcome_key_is_deterministic() -> None:
    assert outcome_key("a", LEGACY) == outcome_key("a", dict(reversed(LEGACY.items())))
    assert outcome_key("a", LEGACY) != outcome_key("b", LEGACY)
    assert outcome_key(None, LEGACY) != outcome_key(None, {**LEGACY, "prompt": "x"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "missing god_name, prompt, response, success"),
        ({"outcome_id": "7"}, "must be an integer"),
        ({"outcome_id": 7, "prompt": "x"}, "unexpected argument.*prompt"),
        ({"outcome_id": 7, "colour": "red"}, "unexpected argument"),
    ],
)
def test_bad_outcome_arguments_are_permanent(
    service: FakeService, ctx: TaskEnv, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        run_operation(queues.TRAIN_FROM_OUTCOME, service, kwargs, ctx)


def test_each_task_calls_its_service_function(service: FakeService, ctx: TaskEnv) -> None:
    run_operation(queues.HOURLY_BATCH, service, {"god_name": "athena"}, ctx)
    run_operation(queues.NIGHTLY, service, {"god": "apollo"}, ctx)
    run_operation(queues.SAVE_CHECKPOINT, service, {"god_name": "zeus"}, ctx)
    run_operation(
        queues.KNOWLEDGE_TRANSFER,
        service,
        {"transfer_type": "breeding", "source_god": "zeus", "target_god": "hera"},
        ctx,
    )
    for task in (
        queues.HOURLY_BATCH_ALL,
        queues.NIGHTLY_ALL,
        queues.SYNC_SHADOWS,
        queues.CLEANUP_CHECKPOINTS,
    ):
        assert run_operation(task, service, {}, ctx)["status"] == "success"
    assert [op for op, _ in service.calls()] == [
        "train_hourly_batch",
        "train_nightly_consolidation",
        "save_checkpoint",
        "knowledge_transfer",
        "train_hourly_batch_all",
        "train_nightly_consolidation_all",
        "sync_all_shadows",
        "cleanup_old_checkpoints",
    ]
    assert service.calls("save_checkpoint") == [["zeus", "manual"]]
    assert service.calls("knowledge_transfer") == [["breeding", "zeus", "hera", 0.5]]


def test_missing_and_unknown_arguments(service: FakeService, ctx: TaskEnv) -> None:
    with pytest.raises(ValidationError, match="god_name"):
        run_operation(queues.HOURLY_BATCH, service, {}, ctx)
    with pytest.raises(ValidationError, match="target_god"):
        run_operation(
            queues.KNOWLEDGE_TRANSFER, service, {"transfer_type": "x", "source_god": "zeus"}, ctx
        )
    with pytest.raises(ValidationError, match="unexpected"):
        run_operation(queues.SYNC_SHADOWS, service, {"god_name": "zeus"}, ctx)
    with pytest.raises(ValidationError, match="not a scheduled task"):
        run_operation(queues.HOURLY_BATCH, service, {"god_name": "zeus", "slot": "x"}, ctx)
    with pytest.raises(ScheduleError):
        run_operation(queues.HOURLY_BATCH_ALL, service, {"slot": "noon"}, ctx)
    with pytest.raises(NotFoundError):
        run_operation(queues.TRAIN_FROM_OUTCOME, service, {"outcome_id": -1}, ctx)


def test_scheduled_task_with_a_slot_runs_once(service: FakeService, ctx: TaskEnv) -> None:
    slot = datetime(2026, 11, 28, 3, tzinfo=UTC).isoformat()
    first = run_operation(queues.NIGHTLY_ALL, service, {"slot": slot}, ctx)
    second = run_operation(queues.NIGHTLY_ALL, service, {"slot": slot}, ctx)
    assert (first["status"], second["status"]) == ("success", "skipped")
    assert len(service.calls("train_nightly_consolidation_all")) == 1
    assert service.slot_ledger.runs("nightly_consolidation")[0]["slot"] == slot


def test_outbox_sweep_redispatches_pending(
    service: FakeService, ctx: TaskEnv, sent: list[Any]
) -> None:
    service.add_pending(1, 2, 3, 4, 6)
    run_operation(queues.TRAIN_FROM_OUTCOME, service, {"outcome_id": 2}, ctx)
    result = run_operation(queues.SWEEP_OUTBOX, service, {"slot": "2026-11-28T12:00:30"}, ctx)
    assert (result["pending"], result["redispatched"]) == (4, 2)  # one task per god
    assert sent == [
        (queues.TRAIN_FROM_OUTCOME, {"outcome_id": 1, "god_name": "god1"}),
        (queues.TRAIN_FROM_OUTCOME, {"outcome_id": 4, "god_name": "god0"}),
    ]
    assert service.slot_ledger.runs("outbox_sweep") == []  # the sweep does not log slots
