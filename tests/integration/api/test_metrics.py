"""GET /metrics: Prometheus text that the client library's own parser reads."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.api.conftest import MakeClient, outcome

pytestmark = pytest.mark.integration


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_parse_and_count_what_happened(client: TestClient) -> None:
    before = samples(client)
    assert before[("pantheon_outcomes_accepted_total", ())] == 0
    batch = [outcome("zeus", f"p{i}", outcome_key=f"m{i}") for i in range(5)]
    assert client.post("/api/outcomes/batch", json={"outcomes": batch}).status_code == 202

    after = samples(client)
    assert after[("pantheon_database_up", ())] == 1
    assert after[("pantheon_outcomes_accepted_total", ())] == 5
    assert after[("pantheon_outcomes_trained_total", (("timescale", "online"),))] == 5
    assert after[("pantheon_outcomes_trained_total", (("timescale", "batch"),))] == 0
    assert after[("pantheon_outcomes_pending_online", ())] == 0
    assert after[("pantheon_outcomes_quarantined", ())] == 0
    assert after[("pantheon_kernel_steps_total", (("kernel", "zeus"), ("kind", "god")))] >= 1
    assert after[("pantheon_kernel_outcomes_trained_total", (("kernel", "zeus"),))] == 5
    task = "training.tasks.train_from_outcome_task"
    assert after[("pantheon_task_results_total", (("result", "success"), ("task", task)))] >= 1
    assert after[("pantheon_task_duration_seconds_count", (("task", task),))] >= 1
    lags = [v for (name, _), v in after.items() if name == "pantheon_schedule_lag_seconds"]
    assert len(lags) == 5
    assert all(v >= 0 for v in lags)
    errors = [v for (name, _), v in after.items() if name == "pantheon_scrape_errors_total"]
    assert errors == [0.0] * 5


def test_metrics_answer_when_the_database_is_down(make_client: MakeClient) -> None:
    client = make_client(database_url_raw="postgresql+psycopg://postgres@127.0.0.1:9/none")
    values = samples(client)
    assert values[("pantheon_database_up", ())] == 0
    failed = {
        dict(labels)["section"]
        for (name, labels), value in values.items()
        if name.startswith("pantheon_scrape_errors") and value > 0
    }
    assert {"counts", "kernels", "schedule"} <= failed
