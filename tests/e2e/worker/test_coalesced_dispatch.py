"""Coalesced online-training dispatch against a real ``pantheon worker`` and PostgreSQL.

Many outcomes are posted quickly from several threads through the API in celery mode, with
no Beat (so no outbox sweep): every outcome must still be trained online exactly once, by
far fewer tasks than outcomes. Figures go to ``test-output/worker_coalescing.json``.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pantheon.api.app import create_app
from pantheon.store.migrate import ensure_schema
from pantheon.store.models import kernels, outcomes, training_history
from pantheon.testing import wait_until
from pantheon.training.service import TrainingService
from tests.e2e.worker.conftest import Cluster

pytestmark = pytest.mark.e2e

GODS = ("zeus", "athena", "hermes", "apollo")
POSTS = 240
THREADS = 4


def _post(client: TestClient, n: int) -> dict[str, Any]:
    body = {
        "god_name": GODS[n % len(GODS)],
        "prompt": f"question number {n}",
        "response": "an answer",
        "success": n % 3 != 0,
    }
    answer = client.post("/api/outcomes", json=body)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def _pending(service: TrainingService) -> int:
    with service.database.session(write=False) as session:
        stmt = sa.select(sa.func.count()).where(outcomes.c.trained_online_at.is_(None))
        return int(session.execute(stmt).scalar_one())


def test_many_quick_outcomes_are_each_trained_once(
    make_cluster: Any, postgres_url: str, output_dir: Path
) -> None:
    cluster: Cluster = make_cluster(DATABASE_URL=postgres_url, PANTHEON_TASK_MODE="celery")
    settings = cluster.settings()
    ensure_schema(settings)
    cluster.pantheon("worker", "worker").wait_for_log("ready.", timeout=60)
    service = TrainingService(settings)
    app = create_app(settings)

    with TestClient(app) as client:
        started = time.monotonic()
        with ThreadPoolExecutor(THREADS) as pool:
            answers = list(pool.map(lambda n: _post(client, n), range(POSTS)))
        posted_in = time.monotonic() - started
        wait_until(lambda: _pending(service) == 0, timeout=120, interval=0.2)
        drained_in = time.monotonic() - started - posted_in
        counts = dict(app.state.pantheon.dispatcher.outcome_dispatches)

    assert {a["mode"] for a in answers} == {"celery"}
    assert counts["sent"] + counts["skipped_for_pending"] == POSTS
    assert counts["sent"] < POSTS  # some dispatches waited for a pending task
    with service.database.session(write=False) as session:
        trained = session.execute(
            sa.select(sa.func.sum(kernels.c.outcomes_trained)).where(kernels.c.name.in_(GODS))
        ).scalar_one()
        steps = session.execute(
            sa.select(training_history.c.outcomes, training_history.c.details).where(
                training_history.c.timescale == "online"
            )
        ).all()
    assert trained == POSTS
    assert sum(int(n) for n, _ in steps) == POSTS
    ids = [i for _, details in steps for i in (details or {}).get("outcome_ids", [])]
    if ids:  # the audit's id lists: each outcome in exactly one online step
        assert sorted(ids) == sorted(a["outcome_id"] for a in answers)

    figures = {
        "outcomes": POSTS,
        "tasks_sent": counts["sent"],
        "dispatches_skipped_for_pending": counts["skipped_for_pending"],
        "online_steps": len(steps),
        "post_seconds": round(posted_in, 2),
        "all_trained_after_posts_seconds": round(drained_in, 2),
    }
    (output_dir / "worker_coalescing.json").write_text(json.dumps(figures, indent=2))
    print("coalesced dispatch:", figures)
