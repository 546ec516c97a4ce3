from __future__ import annotations

import pytest

from pantheon.worker import queues

pytestmark = pytest.mark.unit

ISSUE_TABLE = {
    "training.tasks.train_from_outcome_task": "training_fast",
    "training.tasks.save_checkpoint_task": "training_fast",
    "training.tasks.cleanup_old_checkpoints": "training_fast",
    "training.tasks.train_hourly_batch_task": "training_batch",
    "training.tasks.train_hourly_batch_all": "training_batch",
    "training.tasks.train_nightly_consolidation_task": "training_slow",
    "training.tasks.train_nightly_consolidation_all": "training_slow",
    "training.tasks.knowledge_transfer_task": "training_slow",
    "training.tasks.sync_all_shadows": "training_slow",
}


def test_the_nine_seed_tasks_route_to_the_issue_queues() -> None:
    assert {name: queues.TASK_QUEUES[name] for name in queues.LEGACY_TASKS} == ISSUE_TABLE
    assert queues.TASK_QUEUES[queues.SWEEP_OUTBOX] == queues.FAST


def test_routes_cover_every_task() -> None:
    routes = queues.task_routes()
    assert set(routes) == set(queues.TASK_QUEUES)
    assert all(route["queue"] in queues.QUEUES for route in routes.values())


def test_queue_for_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="train_from_outcome_task"):
        queues.queue_for("training.tasks.nope")


def test_parse_queues_defaults_to_all_and_rejects_unknown() -> None:
    # Celery's default queue is consumed by default: a plain client's message lands there.
    assert queues.parse_queues(None) == [*queues.QUEUES, "celery"]
    assert queues.parse_queues(" training_slow , training_fast") == [
        "training_slow",
        "training_fast",
    ]
    assert queues.parse_queues("training_fast,celery") == ["training_fast", "celery"]
    with pytest.raises(ValueError, match="training_fast, training_batch"):
        queues.parse_queues("training_fast,other")
