"""Every other endpoint's success and error paths, real PostgreSQL, sync mode."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.integration.api.conftest import MakeClient, finished, outcome

pytestmark = pytest.mark.integration


def feed(client: TestClient, god: str = "athena", n: int = 12) -> None:
    batch = [
        outcome(
            god, f"solve equation number {i} for x", success=i % 3 != 0, outcome_key=f"{god}-{i}"
        )
        for i in range(n)
    ]
    assert client.post("/api/outcomes/batch", json={"outcomes": batch}).status_code == 202


# --- routing ------------------------------------------------------------------------
def test_route_ranks_every_god_best_first(client: TestClient) -> None:
    feed(client, "athena")
    response = client.post(
        "/api/route", json={"prompt": "solve equation number 3 for x", "explore": False}
    )
    assert response.status_code == 200
    body = response.json()
    ranking = body["ranking"]
    assert len(ranking) == 13
    assert body["god_name"] == ranking[0]["god_name"]
    assert body["propensity"] == 1.0
    assert body["policy"] == "greedy"
    scores = [r["score"] for r in ranking]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= r["p_success"] <= 1.0 for r in ranking)


def test_route_records_a_decision_and_links_its_outcome(client: TestClient) -> None:
    body = client.post(
        "/api/route", json={"prompt": "what is 2 + 2", "candidates": ["athena", "zeus"]}
    ).json()
    assert body["policy"] == "softmax"
    assert sum(r["probability"] for r in body["ranking"]) == pytest.approx(1.0)
    chosen = next(r for r in body["ranking"] if r["god_name"] == body["god_name"])
    assert body["propensity"] == chosen["probability"]
    decision = client.get(f"/api/decisions/{body['decision_id']}")
    assert decision.status_code == 200
    assert decision.json()["outcome_id"] is None
    other = "zeus" if body["god_name"] == "athena" else "athena"
    report = outcome(other, "what is 2 + 2", decision_id=body["decision_id"])
    posted = client.post("/api/outcomes", json=report)
    assert posted.status_code == 202
    again = client.post("/api/outcomes", json={**report, "outcome_key": "another"})
    assert again.status_code == 200
    assert again.json()["outcome_id"] == posted.json()["outcome_id"]
    linked = client.get(f"/api/decisions/{body['decision_id']}").json()
    assert (linked["outcome_id"], linked["outcome_god"], linked["override"]) == (
        posted.json()["outcome_id"],
        other,
        True,
    )
    batch = client.post(
        "/api/outcomes/batch",
        json={
            "outcomes": [outcome("zeus", "x", decision_id="6f1c1b55-0000-4000-8000-000000000001")]
        },
    )
    assert batch.status_code == 422
    assert batch.json()["error"] == "validation_error"
    assert client.get("/api/decisions/6f1c1b55-0000-4000-8000-000000000001").status_code == 404
    assert client.get("/api/decisions/not-a-uuid").status_code == 422


def test_route_among_candidates_and_explore(client: TestClient) -> None:
    body = client.post(
        "/api/route", json={"prompt": "hello", "candidates": ["Zeus", "hermes"], "explore": True}
    ).json()
    assert {r["god_name"] for r in body["ranking"]} == {"zeus", "hermes"}


def test_route_learns_from_outcomes(client: TestClient) -> None:
    probe = "solve equation number 99 for x"
    before = {
        r["god_name"]: r["p_success"]
        for r in client.post("/api/route", json={"prompt": probe}).json()["ranking"]
    }
    batch = [
        outcome("athena", f"solve equation number {i} for x", success=True, outcome_key=f"a{i}")
        for i in range(40)
    ] + [
        outcome("ares", f"solve equation number {i} for x", success=False, outcome_key=f"r{i}")
        for i in range(40)
    ]
    assert client.post("/api/outcomes/batch", json={"outcomes": batch}).status_code == 202
    after = {
        r["god_name"]: r["p_success"]
        for r in client.post("/api/route", json={"prompt": probe}).json()["ranking"]
    }
    assert after["athena"] > before["athena"]
    assert after["ares"] < before["ares"]


def test_evaluation_and_calibration(client: TestClient) -> None:
    empty = client.get("/api/evaluation")
    assert empty.status_code == 200
    assert empty.json()["decisions"] == 0
    for i in range(30):
        body = client.post(
            "/api/route",
            json={"prompt": f"question {i}", "candidates": ["athena", "zeus"], "explore": 1.0},
        ).json()
        report = outcome(body["god_name"], f"question {i}", decision_id=body["decision_id"])
        assert client.post("/api/outcomes", json=report).status_code == 202
    answer = client.get("/api/evaluation", params={"days": 1})
    assert answer.status_code == 200
    evaluation = answer.json()
    assert evaluation["decisions"] == 30
    names = {p["policy"] for p in evaluation["policies"]}
    assert names == {"logging", "greedy", "always:athena", "always:zeus", "random"}
    logging = next(p for p in evaluation["policies"] if p["policy"] == "logging")
    assert logging["ips"]["value"] == pytest.approx(1.0)  # every reported outcome succeeded
    # The default roster: every god costs the same, so no weight can move the share.
    calibration = client.get("/api/calibration", params={"share": 0.3})
    assert calibration.status_code == 422
    assert "costs the same" in calibration.json()["detail"]
    assert client.get("/api/calibration", params={"share": 2}).status_code == 422
    assert client.get("/api/evaluation", params={"days": -1}).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": ""},
        {},
        {"prompt": "x", "candidates": []},
        {"prompt": "x", "candidates": ["loki"]},
        {"prompt": "x", "explore": 1.5},
        {"prompt": "x", "explore": "sometimes"},
        {"prompt": "x", "cost_weight": -1},
    ],
)
def test_route_refuses_bad_input(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/api/route", json=body)
    assert response.status_code == 422
    assert response.json()["error"] in {"validation_error", "unknown_god"}


# --- kernels, history, stats ----------------------------------------------------------
def test_kernels_list_every_god_and_shadow(client: TestClient) -> None:
    kernels = client.get("/api/kernels").json()["kernels"]
    names = {k["god_name"] for k in kernels}
    assert "zeus" in names
    assert "zeus_shadow" in names
    assert len(names) == 26
    zeus = next(k for k in kernels if k["god_name"] == "zeus")
    assert zeus["kind"] == "god"
    assert zeus["shadow"] == "zeus_shadow"


def test_one_kernel_and_an_unknown_one(client: TestClient) -> None:
    feed(client)
    athena = client.get("/api/kernels/Athena")
    assert athena.status_code == 200
    assert athena.json()["outcomes_trained"] == 12
    assert client.get("/api/kernels/athena_shadow").json()["kind"] == "shadow"
    missing = client.get("/api/kernels/loki")
    assert missing.status_code in (404, 422)
    assert "zeus" in missing.text


def test_history_and_stats_show_training(client: TestClient) -> None:
    feed(client)
    points = client.get("/api/history", params={"god_name": "athena"}).json()["points"]
    assert points
    assert all(p["kernel_name"] == "athena" for p in points)
    assert any(p["loss"] is not None for p in points)
    stats = client.get("/api/stats").json()
    assert stats["outcomes"] == 12
    assert stats["trained_online"] == 12
    assert client.get("/api/history", params={"limit": 0}).status_code == 422


# --- tasks and training jobs ----------------------------------------------------------
@pytest.mark.parametrize("job", ["hourly", "nightly", "shadow-sync", "cleanup"])
def test_each_training_job_runs(client: TestClient, job: str) -> None:
    feed(client)
    response = client.post(f"/api/training/{job}")
    assert response.status_code == 202
    body = response.json()
    assert body["mode"] == "sync"
    result = finished(client, body["task_id"])
    assert result["state"] == "SUCCESS", result
    assert result["result"]["status"] in {"success", "skipped"}


def test_hourly_batch_for_one_god(client: TestClient) -> None:
    feed(client)
    body = client.post("/api/training/hourly", params={"god_name": "athena"}).json()
    result = finished(client, body["task_id"])
    assert result["result"]["god_name"] == "athena"
    assert result["result"]["batch_size"] == 12


def test_unknown_job_or_god_is_422(client: TestClient) -> None:
    assert client.post("/api/training/weekly").status_code == 422
    assert client.post("/api/training/hourly", params={"god_name": "loki"}).status_code == 422


def test_unknown_task_is_404_in_sync_mode(client: TestClient) -> None:
    response = client.get("/api/tasks/no-such-task")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_recent_tasks_lists_what_was_dispatched(client: TestClient) -> None:
    task_id = client.post("/api/outcomes", json=outcome()).json()["task_id"]
    tasks = client.get("/api/tasks").json()["tasks"]
    assert tasks[0]["task_id"] == task_id
    assert tasks[0]["task_name"] == "training.tasks.train_from_outcome_task"


# --- transfer -------------------------------------------------------------------------
def test_transfer_runs(client: TestClient) -> None:
    feed(client, "athena")
    body = {
        "transfer_type": "evolution",
        "source_god": "athena",
        "target_god": "apollo",
        "transfer_ratio": 0.3,
    }
    response = client.post("/api/transfer", json=body)
    assert response.status_code == 202
    result = finished(client, response.json()["task_id"])
    assert result["state"] == "SUCCESS", result
    assert result["result"]["transfer_type"] == "evolution"


@pytest.mark.parametrize(
    "body",
    [
        {"transfer_type": "telepathy", "source_god": "zeus", "target_god": "hera"},
        {"transfer_type": "evolution", "source_god": "zeus", "target_god": "zeus"},
        {"transfer_type": "evolution", "source_god": "zeus", "target_god": "loki"},
        {
            "transfer_type": "evolution",
            "source_god": "zeus",
            "target_god": "hera",
            "transfer_ratio": 1.5,
        },
    ],
)
def test_transfer_refuses_bad_input(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/api/transfer", json=body)
    assert response.status_code == 422
    assert response.json()["error"] in {"validation_error", "transfer_error", "unknown_god"}


# --- checkpoints ----------------------------------------------------------------------
def test_save_list_and_restore_a_checkpoint(client: TestClient) -> None:
    feed(client, "hera", 5)
    saved = client.post("/api/checkpoints", json={"god_name": "Hera"})
    assert saved.status_code == 202
    assert saved.json()["result"]["status"] == "success"
    listed = client.get("/api/checkpoints", params={"god_name": "hera"}).json()["checkpoints"]
    assert len(listed) >= 1
    checkpoint = listed[0]
    assert checkpoint["kernel_name"] == "hera"
    version = client.get("/api/kernels/hera").json()["version"]
    restored = client.post(f"/api/checkpoints/{checkpoint['id']}/restore")
    assert restored.status_code == 200
    assert restored.json()["status"] == "success"
    assert client.get("/api/kernels/hera").json()["version"] > version


def test_checkpoint_errors(client: TestClient) -> None:
    assert client.post("/api/checkpoints", json={"god_name": "loki"}).status_code == 422
    missing = client.post("/api/checkpoints/999999/restore")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert client.post("/api/checkpoints/not-a-number/restore").status_code == 422
    assert client.get("/api/checkpoints", params={"god_name": "loki"}).status_code == 422


# --- operations -----------------------------------------------------------------------
def test_schedule_lists_every_job(client: TestClient) -> None:
    jobs = {j["job"]: j for j in client.get("/api/schedule").json()["jobs"]}
    assert {"hourly_batch", "nightly_consolidation", "shadow_sync", "checkpoint_cleanup"} <= set(
        jobs
    )
    assert jobs["nightly_consolidation"]["schedule"] == "0 3 * * *"
    assert jobs["hourly_batch"]["next_run"]


def test_queues_in_sync_mode(client: TestClient) -> None:
    body = client.get("/api/queues").json()
    assert set(body["queues"]) == {"training_fast", "training_batch", "training_slow", "celery"}


def test_health_in_embedded_mode_is_ok(client: TestClient) -> None:
    """``PANTHEON_TASK_MODE=sync`` (``pantheon up``) runs tasks in-process by design: a
    healthy embedded deployment, not a degraded one (the dashboard badge follows status)."""
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["mode"] == "embedded"
    assert body["problems"] == []
    assert body["broker"] == "unused"
    assert body["database"] == "ok"
    assert body["celery_available"] is False
    assert body["training_enabled"] is True


def test_database_down_is_503_everywhere_with_a_clear_body(make_client: MakeClient) -> None:
    client = make_client(database_url_raw="postgresql+psycopg://postgres@127.0.0.1:9/none")
    started = time.monotonic()
    health = client.get("/api/health")
    assert time.monotonic() - started < 10
    assert health.status_code == 503
    assert health.json()["database"] == "down"
    assert health.json()["status"] == "down"
    response = client.post("/api/outcomes", json=outcome())
    assert response.status_code == 503
    assert response.json()["error"] == "database_unavailable"
    for path in (
        "/api/kernels",
        "/api/kernels/zeus",
        "/api/history",
        "/api/stats",
        "/api/checkpoints",
        "/api/schedule",
        "/api/routing/overview",
    ):
        answer = client.get(path)
        assert answer.status_code == 503, path
        assert answer.json()["error"] == "database_unavailable", path
        assert "postgresql+psycopg://" not in answer.text
    for path, body in (
        ("/api/route", {"prompt": "x"}),
        ("/api/outcomes/batch", {"outcomes": [outcome()]}),
        ("/api/checkpoints/1/restore", None),
    ):
        assert client.post(path, json=body).status_code == 503, path


def test_dashboard_is_served_with_its_vendored_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "uPlot.iife.min.js" in page.text
    for asset in ("vendor/uPlot.iife.min.js", "vendor/uPlot.min.css", "dashboard.js"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert "openapi" in client.get("/openapi.json").json()


# --- security -------------------------------------------------------------------------
TOKEN = "integration-token-0123456789"


def test_token_guards_every_post_and_leaves_probes_open(make_client: MakeClient) -> None:
    client = make_client(api_token=SecretStr(TOKEN))
    posts = [
        ("/api/outcomes", outcome()),
        ("/api/outcomes/batch", {"outcomes": [outcome()]}),
        ("/api/route", {"prompt": "x"}),
        ("/api/training/hourly", None),
        ("/api/transfer", {"transfer_type": "evolution", "source_god": "a", "target_god": "b"}),
        ("/api/checkpoints", {"god_name": "zeus"}),
        ("/api/checkpoints/1/restore", None),
    ]
    for path, body in posts:
        response = client.post(path, json=body)
        assert response.status_code == 401, path
        assert TOKEN not in response.text
    assert client.get("/api/stats").json()["outcomes"] == 0
    assert client.get("/api/health").status_code == 200
    assert client.get("/metrics").status_code == 200
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/outcomes", json=outcome(), headers=auth).status_code == 202


def test_cron_route_disabled_without_secret(client: TestClient) -> None:
    response = client.post("/api/cron/wake", json={"task_type": "hourly"})
    assert response.status_code == 404
    assert response.headers["deprecation"].startswith("@")


def test_cron_route_with_secret(make_client: MakeClient) -> None:
    secret = "cron-secret-0123456789abc"
    client = make_client(cron_secret=SecretStr(secret))
    wrong = client.post(
        "/api/cron/wake", json={"task_type": "hourly"}, headers={"X-Cron-Secret": "x"}
    )
    assert wrong.status_code == 401
    assert secret not in wrong.text
    ok = client.post(
        "/api/cron/wake", json={"task_type": "hourly_batch"}, headers={"X-Cron-Secret": secret}
    )
    assert ok.status_code == 202
    assert ok.json()["task_name"] == "training.tasks.train_hourly_batch_all"
    assert finished(client, ok.json()["task_id"])["state"] == "SUCCESS"
    assert "deprecation" in ok.headers
    assert "successor-version" in ok.headers["link"]
    bad = client.post(
        "/api/cron/wake", json={"task_type": "weekly"}, headers={"X-Cron-Secret": secret}
    )
    assert bad.status_code == 422
    assert "hourly" in bad.json()["context"]["valid"]
