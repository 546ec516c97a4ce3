"""Histograms in ``/metrics``, and the Grafana dashboard's every query against a live scrape.

Traffic first (outcomes, routing, a 404, a 422, a scheduled batch), so every histogram and
every labelled family has samples; then each PromQL expression of
``deploy/grafana/pantheon.json`` is parsed for the metric names it reads, and each must be
a sample name the scrape (read with prometheus_client's own parser) really contains.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pantheon.worker import queues
from tests.integration.api.conftest import MakeClient, outcome

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = REPO / "deploy" / "grafana" / "pantheon.json"

#: PromQL functions and aggregation operators the dashboard may use.
FUNCTIONS = frozenset(
    {"sum", "max", "min", "avg", "count", "rate", "increase", "histogram_quantile"}
    | {"clamp_min", "time", "topk", "irate", "delta", "abs"}
)
KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and"})
KEYWORDS |= {"or", "unless", "offset", "bool"}
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (functions, keywords, labels, numbers removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)  # grouping labels
    names = set()
    for match in IDENT.finditer(text):
        word = match.group(0)
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before == ".":
            continue  # part of a number such as 1e-9
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):
            assert word in FUNCTIONS, f"unexpected PromQL function {word!r} in {expr!r}"
            continue
        if word in KEYWORDS or word in ("e",):
            continue
        names.add(word)
    return names


def test_the_parser_finds_metric_names() -> None:
    expr = (
        'sum(rate(a_total{status=~"5.."}[5m])) / clamp_min(sum(rate(b_count[5m])), 1e-9) '
        "+ histogram_quantile(0.95, sum by (le, route) (rate(c_bucket[5m]))) - time()"
    )
    assert metric_names(expr) == {"a_total", "b_count", "c_bucket"}


def scrape(client: TestClient) -> tuple[dict[str, str], dict[str, int]]:
    """(family name → type, sample name → number of samples) of one ``/metrics`` answer."""
    response = client.get("/metrics")
    assert response.status_code == 200
    types: dict[str, str] = {}
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for sample in family.samples:
            counts[sample.name] = counts.get(sample.name, 0) + 1
    return types, counts


def traffic(client: TestClient) -> None:
    batch = [outcome("zeus", f"question {i}", outcome_key=f"g{i}") for i in range(4)]
    batch += [outcome("athena", f"proof {i}", outcome_key=f"a{i}") for i in range(4)]
    assert client.post("/api/outcomes/batch", json={"outcomes": batch}).status_code == 202
    for prompt in ("prove the lemma", "plan the campaign"):
        assert client.post("/api/route", json={"prompt": prompt}).status_code == 200
    assert client.get("/api/tasks/not-a-task-at-all").status_code in (200, 404)
    assert client.get("/no/such/page").status_code == 404
    assert client.post("/api/route", json={"prompt": 12}).status_code == 422
    state: Any = client.app.state.pantheon  # type: ignore[attr-defined]
    slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0).isoformat()
    state.dispatcher.dispatch(queues.HOURLY_BATCH_ALL, wait=True, slot=slot)


def test_histograms_and_every_dashboard_query(
    make_client: MakeClient, redis_url: str, output_dir: Path
) -> None:
    # auto mode on a live Redis with no worker: tasks run here, queue depths are reported.
    client = make_client(task_mode="auto", redis_url=redis_url)
    traffic(client)
    types, counts = scrape(client)

    for name in (
        "pantheon_task_duration_seconds",
        "pantheon_http_request_duration_seconds",
        "pantheon_route_latency_seconds",
    ):
        assert types.get(name) == "histogram", (name, types.get(name))
        assert counts.get(f"{name}_bucket", 0) > 1
    text = client.get("/metrics").text
    # Route templates, never raw paths; unknown paths share one label value.
    assert 'route="/api/route"' in text
    assert 'method="POST"' in text
    assert 'status="422"' in text
    assert 'route="/api/tasks/{task_id}"' in text
    assert 'route="unmatched"' in text
    assert "/no/such/page" not in text
    assert re.search(r'pantheon_route_latency_seconds_count\{status="200"\} 2\.0', text)

    dashboard = json.loads(DASHBOARD.read_text())
    report = []
    checked: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, f"panel {panel['title']!r} reads no metric: {target['expr']}"
            missing = sorted(n for n in names if not counts.get(n))
            assert not missing, f"panel {panel['title']!r} reads {missing}, not in /metrics"
            checked |= names
            found = ", ".join(f"{n} ({counts[n]} samples)" for n in sorted(names))
            report.append(f"{panel['title']}\n  {target['expr']}\n  -> {found}")
    assert len(dashboard["panels"]) >= 10
    (output_dir / "grafana-queries.txt").write_text(
        f"{DASHBOARD.relative_to(REPO)}: {len(report)} queries, every metric name found in a "
        f"live /metrics scrape\n\n" + "\n".join(report) + "\n"
    )
    assert "pantheon_queue_depth" in checked
    # Every family the scrape exports is documented in the README's metrics table.
    readme = (REPO / "README.md").read_text()
    # (``*_created``: prometheus_client's creation time of each histogram series.)
    exported = [name for name in types if not name.endswith("_created")]
    undocumented = sorted(name for name in exported if f"`{name}" not in readme)
    assert not undocumented, f"README's Monitoring table lacks {undocumented}"
