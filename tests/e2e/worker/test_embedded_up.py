"""``pantheon up``: web + in-process tasks + embedded scheduler on SQLite, nothing else."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pantheon.store.schedule_runs import ScheduleRuns
from pantheon.testing import free_port, wait_until
from pantheon.training.service import TrainingService
from tests.e2e.worker.conftest import Cluster

pytestmark = pytest.mark.e2e


def test_pantheon_up_trains_in_process_and_runs_the_schedule(
    make_cluster: Any, tmp_path: Any
) -> None:
    port = free_port()
    cluster: Cluster = make_cluster(
        PANTHEON_SCHEDULE_HOURLY="every:2",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing there: no broker at all
        CELERY_RESULT_BACKEND="",
        CELERY_BROKER_URL="",
    )
    web = cluster.pantheon("up", "up", "--port", str(port))
    web.wait_for_log("Uvicorn running", timeout=60)
    assert "Celery available: False" in web.log_text()
    base = f"http://127.0.0.1:{port}"
    # The recommended embedded mode is a healthy deployment, not a degraded one.
    health = httpx.get(f"{base}/api/health", timeout=30).json()
    assert health["status"] == "ok", health
    assert health["mode"] == "embedded"
    assert health["problems"] == []
    body = {
        "god_name": "athena",
        "prompt": "is this proof sound",
        "response": "yes",
        "success": True,
    }
    answer = httpx.post(f"{base}/api/outcomes", json=body, timeout=30)
    assert answer.status_code == 202, answer.text
    assert answer.json()["mode"] == "sync"
    task = httpx.get(f"{base}/api/tasks/{answer.json()['task_id']}", timeout=10).json()
    assert task["state"] == "SUCCESS", task

    service = TrainingService(cluster.settings())
    runs = ScheduleRuns(service.database)
    wait_until(
        lambda: len([r for r in runs.recent("hourly_batch") if r["status"] == "success"]) >= 2,
        timeout=30,
    )
    slots = [r["slot"] for r in runs.recent("hourly_batch")]
    assert len(slots) == len(set(slots))
    schedule = httpx.get(f"{base}/api/schedule", timeout=10).json()
    hourly = next(j for j in schedule["jobs"] if j["job"] == "hourly_batch")
    assert hourly["schedule"] == "every:2"
    assert hourly["last_success"] is not None
    assert "embedded scheduler started" in web.log_text()
