"""The in-process path over the real service: legacy-style calls, the outbox sweep, soft limits."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from celery.exceptions import SoftTimeLimitExceeded

from pantheon.config import Settings
from pantheon.errors import ValidationError
from pantheon.learning import timescales
from pantheon.store.models import outcomes
from pantheon.training.intake import OutcomeIn, ingest
from pantheon.worker import queues
from pantheon.worker.dispatch import Dispatcher
from pantheon.worker.tasks import TaskEnv, run_task

pytestmark = pytest.mark.integration

LEGACY = {
    "god_name": "Zeus",
    "prompt": "which god rules the sky",
    "response": "Zeus",
    "success": True,
    "phi": 0.8,
    "kappa": 0.2,
    "coherence_score": 0.9,
    "basin_trajectory": None,
}


def _count_outcomes(service: Any) -> int:
    with service.database.session(write=False) as session:
        return int(session.execute(sa.select(sa.func.count()).select_from(outcomes)).scalar_one())


def test_a_redelivered_legacy_call_stores_and_trains_once(
    real_settings: Settings, real_service: Any
) -> None:
    ctx = TaskEnv(real_service, real_settings, task_id="celery-task-1")
    first = run_task(queues.TRAIN_FROM_OUTCOME, ctx, LEGACY)
    again = run_task(queues.TRAIN_FROM_OUTCOME, ctx, LEGACY)
    assert first["status"] == "success"
    assert first["god_name"] == "zeus"
    assert again["status"] == "duplicate"
    assert again["outcome_id"] == first["outcome_id"]
    assert _count_outcomes(real_service) == 1
    other = TaskEnv(real_service, real_settings, task_id="celery-task-2")
    assert run_task(queues.TRAIN_FROM_OUTCOME, other, LEGACY)["outcome_id"] != (first["outcome_id"])


def test_bad_legacy_outcome_is_a_clear_permanent_error(
    real_settings: Settings, real_service: Any
) -> None:
    ctx = TaskEnv(real_service, real_settings, task_id="t")
    with pytest.raises(ValidationError, match="phi"):
        run_task(queues.TRAIN_FROM_OUTCOME, ctx, {**LEGACY, "phi": 7})
    with pytest.raises(ValidationError, match="unknown god"):
        run_task(queues.TRAIN_FROM_OUTCOME, ctx, {**LEGACY, "god_name": "Odin"})
    assert _count_outcomes(real_service) == 0


def test_outbox_sweep_trains_what_was_stored_but_never_dispatched(
    real_settings: Settings, real_service: Any
) -> None:
    stored = ingest(
        real_service,
        [
            OutcomeIn.parse(
                {"god_name": god, "prompt": f"question {i}", "response": "a", "success": i % 2 == 0}
            )
            for i, god in enumerate(["zeus", "zeus", "athena", "hermes", "athena"])
        ],
    )
    dispatcher = Dispatcher(real_settings, real_service)
    swept = dispatcher.dispatch(queues.SWEEP_OUTBOX, wait=True)
    assert swept.result is not None
    assert swept.result["pending"] == 5
    assert swept.result["redispatched"] == 3  # one online task per god drains its backlog
    again = dispatcher.dispatch(queues.SWEEP_OUTBOX, wait=True)
    assert again.result is not None
    assert again.result["pending"] == 0
    duplicates = [
        dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=i).result for i in stored.new_ids
    ]
    assert all(r is not None and r["status"] == "duplicate" for r in duplicates)


def test_soft_time_limit_mid_step_leaves_the_kernel_unchanged(
    real_settings: Settings, real_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = ingest(
        real_service,
        [
            OutcomeIn.parse(
                {"god_name": "apollo", "prompt": "cure", "response": "rest", "success": True}
            )
        ],
    )
    before = real_service.get_kernel("apollo").state_dict()

    def interrupted(*_a: Any, **_k: Any) -> Any:
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(timescales, "train_from_outcome", interrupted)
    with pytest.raises(SoftTimeLimitExceeded):
        Dispatcher(real_settings, real_service).dispatch(
            queues.TRAIN_FROM_OUTCOME, outcome_id=stored.new_ids[0]
        )
    after = real_service.get_kernel("apollo").state_dict()
    assert after["meta"] == before["meta"]
    for name, array in before["arrays"].items():
        assert (after["arrays"][name] == array).all(), name
    monkeypatch.undo()
    result = Dispatcher(real_settings, real_service).dispatch(
        queues.TRAIN_FROM_OUTCOME, outcome_id=stored.new_ids[0]
    )
    assert result.result is not None
    assert result.result["status"] == "success"
