"""How long a task waits after its worker dies mid-run, and that it still runs once.

The fake service's outcome ``2000 + s`` works for s seconds inside a transaction, so a kill
lands mid-task; ``started`` rows record every delivery, ``trained`` (a primary key) every
commit. Figures are printed and written to ``test-output/worker_redelivery.json``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from pantheon.testing import wait_until
from pantheon.worker import celery_tasks, queues
from tests.e2e.worker.conftest import Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Small limits so Redis' visibility timeout (1.5 x the longest hard limit + 60 s) is short.
SHORT_LIMITS = {
    "PANTHEON_TASK_SOFT_TIME_LIMIT": "10",
    "PANTHEON_TASK_TIME_LIMIT": "12",
    "PANTHEON_SLOW_TASK_SOFT_TIME_LIMIT": "14",
    "PANTHEON_SLOW_TASK_TIME_LIMIT": "15",
}


def _deliveries(cluster: Cluster, outcome_id: int) -> list[tuple[int, float]]:
    return [
        (int(pid), float(at))
        for pid, at in cluster.service.db.rows(
            "SELECT pid, at FROM started WHERE outcome_id = ? ORDER BY id", outcome_id
        )
    ]


def _record(output_dir: Path, name: str, seconds: float) -> None:
    path = output_dir / "worker_redelivery.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = round(seconds, 2)
    path.write_text(json.dumps(figures, indent=2, sort_keys=True))
    print(f"redelivery {name}: {seconds:.1f}s")


def _send(cluster: Cluster, outcome_id: int) -> Any:
    return cluster.app().send_task(
        queues.TRAIN_FROM_OUTCOME, kwargs={"outcome_id": outcome_id}, queue=queues.FAST
    )


def test_pool_child_killed_mid_task(make_cluster: Any, broker_url: str, output_dir: Path) -> None:
    cluster: Cluster = make_cluster(broker=broker_url, **SHORT_LIMITS)
    cluster.worker()
    result = _send(cluster, 2004)
    wait_until(lambda: _deliveries(cluster, 2004), timeout=30)
    child, _ = _deliveries(cluster, 2004)[0]
    killed = time.time()
    os.kill(child, signal.SIGKILL)
    wait_until(lambda: len(_deliveries(cluster, 2004)) >= 2, timeout=120)
    _record(
        output_dir,
        f"pool_child_sigkill_{broker_url.split(':', maxsplit=1)[0]}",
        _deliveries(cluster, 2004)[1][1] - killed,
    )
    assert result.get(timeout=60)["status"] == "success"
    assert cluster.service.trained() == [2004]
    assert len(_deliveries(cluster, 2004)) == 2


def test_whole_worker_killed_mid_task(make_cluster: Any, broker_url: str, output_dir: Path) -> None:
    cluster: Cluster = make_cluster(broker=broker_url, **SHORT_LIMITS)
    first = cluster.worker(name="w1")
    result = _send(cluster, 2004)
    wait_until(lambda: _deliveries(cluster, 2004), timeout=30)
    killed = time.time()
    first.kill()
    cluster.worker(name="w2")
    wait_until(lambda: len(_deliveries(cluster, 2004)) >= 2, timeout=300, interval=0.5)
    _record(
        output_dir,
        f"whole_worker_sigkill_{broker_url.split(':', maxsplit=1)[0]}",
        _deliveries(cluster, 2004)[1][1] - killed,
    )
    assert result.get(timeout=60)["status"] == "success"
    assert cluster.service.trained() == [2004]


def test_warm_shutdown_finishes_the_task(make_cluster: Any, redis_url: str) -> None:
    cluster: Cluster = make_cluster(**SHORT_LIMITS)
    worker = cluster.worker()
    result = _send(cluster, 2003)
    wait_until(lambda: _deliveries(cluster, 2003), timeout=30)
    worker.stop(timeout=60)
    assert cluster.service.trained() == [2003]
    assert len(_deliveries(cluster, 2003)) == 1
    assert result.get(timeout=10)["status"] == "success"


def test_pool_child_killed_mid_scheduled_run_takes_over_its_slot(
    make_cluster: Any, redis_url: str, output_dir: Path
) -> None:
    cluster: Cluster = make_cluster(PANTHEON_TEST_HOURLY_SECONDS="3", **SHORT_LIMITS)
    cluster.worker()
    slot = "2026-11-28T12:00:00+00:00"
    result = cluster.app().send_task(
        queues.HOURLY_BATCH_ALL, kwargs={"slot": slot}, queue=queues.BATCH
    )
    wait_until(lambda: _deliveries(cluster, -100), timeout=30)
    child, _ = _deliveries(cluster, -100)[0]
    killed = time.time()
    os.kill(child, signal.SIGKILL)
    wait_until(lambda: len(_deliveries(cluster, -100)) >= 2, timeout=60)
    _record(
        output_dir,
        "scheduled_run_pool_child_sigkill_redis",
        _deliveries(cluster, -100)[1][1] - killed,
    )
    outcome = result.get(timeout=60)
    assert outcome["status"] == "success"
    assert outcome["covered_slots"] == [slot]
    (run,) = cluster.service.slot_ledger.runs("hourly_batch")
    assert run["status"] == "success"
    assert run["attempts"] == 2
    assert len(cluster.service.calls("train_hourly_batch_all")) == 1


def test_whole_worker_killed_on_redis_is_resumed_by_the_outbox_sweep(
    make_cluster: Any, redis_url: str, output_dir: Path
) -> None:
    """Redis holds a dead worker's task until the visibility timeout; the sweep does not
    wait for it, and the late redelivery is a counted duplicate that changes nothing."""
    cluster: Cluster = make_cluster(
        PANTHEON_SCHEDULE_OUTBOX="every:2", PANTHEON_OUTBOX_SWEEP_AFTER="0", **SHORT_LIMITS
    )
    cluster.service.add_pending(2004)  # stored, untrained: what the sweep looks for
    first = cluster.worker(name="w1")
    original = _send(cluster, 2004)
    wait_until(lambda: _deliveries(cluster, 2004), timeout=30)
    killed = time.time()
    first.kill()
    assert cluster.service.trained() == []  # the kill rolled the step back
    cluster.worker(name="w2")
    cluster.beat()
    wait_until(lambda: cluster.service.trained() == [2004], timeout=60, interval=0.2)
    (trained_at,) = cluster.service.db.rows("SELECT at FROM trained WHERE outcome_id = 2004")
    _record(output_dir, "whole_worker_sigkill_redis_sweep_trained", float(trained_at[0]) - killed)
    late = original.get(timeout=300)  # Redis redelivers the original after ~82 s + restore
    _record(output_dir, "whole_worker_sigkill_redis_original_redelivered", time.time() - killed)
    assert late["status"] == "duplicate"
    assert cluster.service.trained() == [2004]
    assert len(cluster.service.calls("train_from_outcome")) == 1  # one committed step
    counted = celery_tasks.snapshot(cluster.settings())[queues.TRAIN_FROM_OUTCOME]
    assert counted["duplicate"] >= 1
