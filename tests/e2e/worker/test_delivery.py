"""A real worker process: every task registered, every queue consumed, retries by policy."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from kombu import connection, entity, messaging

from pantheon.testing import wait_until
from pantheon.worker import celery_tasks, queues
from pantheon.worker.dispatch import Dispatcher
from tests.e2e.worker.conftest import Cluster

pytestmark = pytest.mark.e2e

ARGS: dict[str, dict[str, Any]] = {
    queues.TRAIN_FROM_OUTCOME: {"outcome_id": 11},
    queues.SAVE_CHECKPOINT: {"god_name": "zeus"},
    queues.CLEANUP_CHECKPOINTS: {},
    queues.HOURLY_BATCH: {"god_name": "athena"},
    queues.HOURLY_BATCH_ALL: {},
    queues.NIGHTLY: {"god_name": "apollo"},
    queues.NIGHTLY_ALL: {},
    queues.KNOWLEDGE_TRANSFER: {
        "transfer_type": "evolution",
        "source_god": "zeus",
        "target_god": "hera",
        "transfer_ratio": 0.25,
    },
    queues.SYNC_SHADOWS: {},
    queues.SWEEP_OUTBOX: {},
}


def _result(dispatcher: Dispatcher, task_id: str, timeout: float = 30) -> dict[str, Any]:
    return dispatcher.get_task_result(task_id, timeout=timeout)


def test_every_task_registered_routed_and_run_by_the_worker(
    make_cluster: Any, broker_url: str
) -> None:
    cluster: Cluster = make_cluster(broker=broker_url)
    cluster.worker()
    registered = cluster.celery_cli("inspect", "registered", "--timeout", "5")
    for name in queues.TASK_QUEUES:
        assert name in registered, registered
    active = cluster.celery_cli("inspect", "active_queues", "--timeout", "5")
    for queue in queues.QUEUES:
        assert f"'name': '{queue}'" in active or f'"name": "{queue}"' in active, active

    dispatcher = Dispatcher(cluster.settings(), cluster.service, app=cluster.app())
    assert dispatcher.celery_available()
    for name, kwargs in ARGS.items():
        sent = dispatcher.dispatch(name, **kwargs)
        assert sent.mode == "celery", name
        assert sent.queue == queues.TASK_QUEUES[name]
        outcome = _result(dispatcher, str(sent.task_id))
        assert outcome["state"] == "SUCCESS", (name, outcome)
        assert outcome["task_name"] == name
    calls = cluster.service.db.rows("SELECT op, pid FROM calls")
    assert {op for op, _ in calls} >= {
        "train_from_outcome",
        "save_checkpoint",
        "cleanup_old_checkpoints",
        "train_hourly_batch",
        "train_hourly_batch_all",
        "train_nightly_consolidation",
        "train_nightly_consolidation_all",
        "knowledge_transfer",
        "sync_all_shadows",
    }
    assert os.getpid() not in {pid for _, pid in calls}  # run by the worker, not in-process
    assert cluster.service.calls("knowledge_transfer") == [["evolution", "zeus", "hera", 0.25]]


def test_seed_style_delay_and_positional_calls(make_cluster: Any, redis_url: str) -> None:
    cluster: Cluster = make_cluster()
    cluster.worker()
    app = cluster.app()
    by_position = app.tasks[queues.HOURLY_BATCH].delay("hermes")
    assert by_position.get(timeout=30)["god_name"] == "hermes"
    by_name = app.tasks[queues.TRAIN_FROM_OUTCOME].apply_async(kwargs={"outcome_id": 12})
    assert by_name.get(timeout=30)["outcome_id"] == 12


def test_retries_follow_policy_and_permanent_errors_fail_once(
    make_cluster: Any, redis_url: str
) -> None:
    cluster: Cluster = make_cluster()
    cluster.worker()
    dispatcher = Dispatcher(cluster.settings(), cluster.service, app=cluster.app())
    recovers = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=1002)
    never = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=1050)
    bad = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=-3)
    assert _result(dispatcher, str(recovers.task_id))["state"] == "SUCCESS"
    failed = _result(dispatcher, str(never.task_id))
    assert failed["state"] == "FAILURE"
    assert "gave up after 3 retries" in failed["error"]
    rejected = _result(dispatcher, str(bad.task_id))
    assert rejected["state"] == "FAILURE"
    assert "not_found" in rejected["error"]
    attempts = dict(cluster.service.db.rows("SELECT key, n FROM attempts"))
    assert attempts == {"outcome:1002": 3, "outcome:1050": 4, "outcome:-3": 1}
    assert cluster.service.trained() == [1002]


def test_soft_time_limit_rolls_back_and_retries_then_stops(
    make_cluster: Any, redis_url: str
) -> None:
    cluster: Cluster = make_cluster(
        PANTHEON_TASK_SOFT_TIME_LIMIT="1", PANTHEON_TASK_TIME_LIMIT="10"
    )
    cluster.worker()
    dispatcher = Dispatcher(cluster.settings(), cluster.service, app=cluster.app())
    sent = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=2003)
    outcome = _result(dispatcher, str(sent.task_id), timeout=60)
    assert outcome["state"] == "FAILURE"
    assert "SoftTimeLimitExceeded" in outcome["error"]
    started = cluster.service.db.rows("SELECT count(*) FROM started WHERE outcome_id = 2003")
    assert started[0][0] == 4  # the first run and three retries, then it stops
    assert cluster.service.trained() == []  # every run rolled back


def test_queues_can_be_picked(make_cluster: Any, redis_url: str) -> None:
    cluster: Cluster = make_cluster()
    cluster.worker(queues=("training_slow",))
    dispatcher = Dispatcher(cluster.settings(), cluster.service, app=cluster.app())
    wait_until(lambda: dispatcher.consumed_queues(refresh=True) == {"training_slow"})
    assert dispatcher.mode_for(queues.SYNC_SHADOWS) == "celery"
    fast = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=21)
    assert fast.mode == "sync"  # nobody consumes training_fast: run here, not queued forever
    assert not dispatcher.celery_available()


def test_malformed_messages_are_dropped_once_and_duplicates_counted(
    make_cluster: Any, broker_url: str
) -> None:
    # kombu is untyped: handled as Any here.
    Connection: Any = connection.Connection
    Exchange: Any = entity.Exchange
    Producer: Any = messaging.Producer

    cluster: Cluster = make_cluster(broker=broker_url)
    worker = cluster.worker()
    app = cluster.app()
    with Connection(cluster.settings().celery_broker_url) as conn:
        producer = Producer(conn.channel(), exchange=Exchange(queues.FAST, type="direct"))
        producer.publish(
            b"\x80not json",
            routing_key=queues.FAST,
            content_type="application/json",
            content_encoding="binary",
        )
        producer.publish(
            b"\x80\x04pickled",
            routing_key=queues.FAST,
            content_type="application/x-python-serialize",
            content_encoding="binary",
        )
    unknown = app.send_task("training.tasks.no_such_task", kwargs={}, queue=queues.FAST)
    first = app.send_task(queues.TRAIN_FROM_OUTCOME, kwargs={"outcome_id": 31}, queue=queues.FAST)
    assert first.get(timeout=30)["status"] == "success"
    again = app.send_task(queues.TRAIN_FROM_OUTCOME, kwargs={"outcome_id": 31}, queue=queues.FAST)
    assert again.get(timeout=30)["status"] == "duplicate"
    dispatcher = Dispatcher(cluster.settings(), cluster.service, app=app)
    wait_until(lambda: dispatcher.queue_depths()[queues.FAST] == 0, timeout=20)
    time.sleep(2)  # a redelivered poison message would be back by now
    assert dispatcher.queue_depths()[queues.FAST] == 0
    assert unknown.state == "FAILURE"  # reported, never run, not requeued
    log = worker.log_text()
    assert "unregistered task" in log.lower()
    assert log.lower().count("no_such_task") >= 1
    counts = celery_tasks.snapshot(cluster.settings())[queues.TRAIN_FROM_OUTCOME]
    assert counts["success"] >= 2
    assert counts["duplicate"] >= 1
    assert cluster.service.trained() == [31]
