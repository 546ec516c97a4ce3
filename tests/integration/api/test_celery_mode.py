"""The API with a real Celery worker subprocess: intake → queued → trained, task status."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from subprocess import Popen
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pantheon.api.app import create_app
from pantheon.config import Settings
from pantheon.store.migrate import ensure_schema
from tests.integration.api.conftest import outcome, wait_for

pytestmark = pytest.mark.integration

TRAIN = "training.tasks.train_from_outcome_task"


@pytest.fixture
def celery_client(
    postgres_url: str,
    redis_url: str,
    make_settings: Any,
    celery_worker: Callable[[Settings], Popen[bytes]],
) -> Iterator[TestClient]:
    settings: Settings = make_settings(
        database_url_raw=postgres_url, redis_url=redis_url, task_mode="auto", mode_cache_seconds=1
    )
    ensure_schema(settings)
    worker = celery_worker(settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:

        def celery_mode() -> bool:
            assert worker.poll() is None, "the worker exited"
            return bool(client.get("/api/health").json()["mode"] == "celery")

        wait_for(celery_mode, timeout=90, every=0.5)
        yield client


def task_done(client: TestClient, task_id: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/api/tasks/{task_id}", params={"timeout": 2}).json()
        return body if body["ready"] else None

    result: dict[str, Any] = wait_for(ready, timeout=60)
    return result


def test_intake_is_queued_and_trained_by_the_worker(celery_client: TestClient) -> None:
    client = celery_client
    health = client.get("/api/health").json()
    assert health["celery_available"] is True
    assert health["broker"] == "ok"
    assert health["workers"] >= 1

    response = client.post("/api/outcomes", json=outcome("zeus", outcome_key="celery-1"))
    assert response.status_code == 202
    body = response.json()
    assert body["mode"] == "celery"
    task = task_done(client, body["task_id"])
    assert task["state"] == "SUCCESS", task
    assert task["result"]["status"] in {"success", "duplicate"}
    wait_for(lambda: client.get("/api/kernels/zeus").json()["outcomes_trained"] == 1)

    again = client.post("/api/outcomes", json=outcome("zeus", outcome_key="celery-1"))
    assert again.status_code == 200
    assert again.json()["outcome_id"] == body["outcome_id"]

    batch = [outcome("hera", f"q{i}", outcome_key=f"celery-b{i}") for i in range(6)]
    accepted = client.post("/api/outcomes/batch", json={"outcomes": batch}).json()
    assert [t["mode"] for t in accepted["tasks"]] == ["celery"]
    wait_for(lambda: client.get("/api/kernels/hera").json()["outcomes_trained"] == 6)

    hourly = client.post("/api/training/hourly").json()
    assert hourly["mode"] == "celery"
    done = task_done(client, hourly["task_id"])
    assert done["state"] == "SUCCESS", done
    assert done["result"]["results"]["hera"]["batch_size"] == 6

    queues = client.get("/api/queues").json()
    assert queues["broker"] == "ok"
    assert all(isinstance(v, int) for v in queues["queues"].values())


def test_worker_task_counters_reach_metrics(celery_client: TestClient) -> None:
    client = celery_client
    for i in range(2):
        task_id = client.post("/api/outcomes", json=outcome("ares", f"m{i}")).json()["task_id"]
        assert task_done(client, task_id)["state"] == "SUCCESS"

    def successes() -> float:
        families = text_string_to_metric_families(client.get("/metrics").text)
        return sum(
            s.value
            for f in families
            for s in f.samples
            if s.name == "pantheon_task_results_total"
            and s.labels == {"task": TRAIN, "result": "success"}
        )

    # The worker counts a run just after it stores the result: wait for the count.
    wait_for(lambda: successes() >= 2, timeout=20)

    # Celery cannot tell an unknown id from a queued one: both are PENDING.
    body = client.get("/api/tasks/0f0f0f0f-0000-4000-8000-000000000000").json()
    assert body["state"] == "PENDING"
    assert body["ready"] is False
    recent = client.get("/api/tasks").json()["tasks"]
    assert [t["state"] for t in recent[:2]] == ["SUCCESS", "SUCCESS"]
