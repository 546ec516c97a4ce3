"""Logs of real processes: JSON lines in production (web with uvicorn's loggers, worker
with its task id and outcome id, Beat), readable text locally, and no secret anywhere.

Before ``pantheon.logs``, every line was ``<time> INFO <logger>: <message>`` text (and
Celery's own ``[time: LEVEL/MainProcess]`` format in the worker), whatever the environment.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from pantheon.testing import Proc, free_port, wait_until
from pantheon.worker import queues
from tests.e2e.worker.conftest import REPO, Cluster

pytestmark = pytest.mark.e2e

TOKEN = "tok-" + "5e1f0a9b3c7d2e48" * 2
WRONG = "wrong-bearer-" + "3" * 20
#: What a text line of Pantheon or Celery looks like: none may be left in JSON mode.
TEXT_LINE = re.compile(r"^(\[)?\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


def json_records(proc: Proc) -> list[dict[str, Any]]:
    records = []
    for line in proc.log_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)  # a broken line fails the test here
            assert {"level", "time", "logger", "message"} <= set(record), record
            records.append(record)
        else:
            assert not TEXT_LINE.match(line), f"a text log line in JSON mode: {line!r}"
    return records


def migrate(cluster: Cluster) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pantheon", "db", "upgrade"],
        cwd=REPO,
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The CLI's own lines are JSON too, in the same format.
    for line in done.stderr.splitlines():
        assert json.loads(line)["level"] in {"debug", "info", "warning"}, line


def test_production_web_logs_json_lines_with_uvicorns_and_no_secret(
    make_cluster: Any, postgres_url: str
) -> None:
    port = free_port()
    cluster: Cluster = make_cluster(
        PANTHEON_ENV="production",  # auto: JSON by default in production
        DATABASE_URL=postgres_url,
        PANTHEON_API_TOKEN=TOKEN,
        PANTHEON_TASK_MODE="sync",
    )
    migrate(cluster)
    web = cluster.pantheon("serve", "serve", "--port", str(port))
    web.wait_for_log("Application startup complete", timeout=60)
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/api/health", timeout=10).status_code < 500
    wrong = httpx.post(
        f"{base}/api/outcomes", json={}, headers={"Authorization": f"Bearer {WRONG}"}, timeout=10
    )
    assert wrong.status_code == 401
    wait_until(lambda: '"uvicorn.access"' in web.log_text(), timeout=10)
    web.stop()
    records = json_records(web)
    loggers = {r["logger"] for r in records}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers, loggers
    assert any(r["logger"].startswith("pantheon.") for r in records), loggers
    assert all(r["level"] in {"debug", "info", "warning", "error", "critical"} for r in records)
    assert all(re.match(r"^\d{4}-\d\d-\d\dT.*\+00:00$", r["time"]) for r in records)
    assert not any("color_message" in r for r in records)
    text = web.log_text()
    assert TOKEN not in text
    assert WRONG not in text


def test_worker_and_beat_log_json_with_task_and_outcome_ids(
    make_cluster: Any, tmp_path: Path
) -> None:
    cluster: Cluster = make_cluster(
        PANTHEON_LOG_FORMAT="json",
        DATABASE_URL=f"sqlite:///{tmp_path / 'pantheon.db'}",
        PANTHEON_API_TOKEN=TOKEN,
    )
    migrate(cluster)
    worker = cluster.pantheon("worker", "worker", "--concurrency", "1")
    worker.wait_for_log("ready.", timeout=90)
    app = cluster.app()
    missing_outcome = 987654321
    task_id = app.send_task(
        queues.TRAIN_FROM_OUTCOME, kwargs={"outcome_id": missing_outcome}, queue=queues.FAST
    ).id
    wait_until(
        lambda: task_id in worker.log_text() and "outcome_id" in worker.log_text(), timeout=60
    )
    beat = cluster.pantheon("beat", "beat")
    # "Starting..." comes before the leader lock: a Beat of another test on the same Redis
    # database may hold that lock, and this one then waits as standby, logging all the same.
    beat.wait_for_log("beat: Starting", timeout=60)
    beat.stop()
    worker.stop()

    records = json_records(worker)
    assert any(r["message"].endswith("ready.") for r in records), "no JSON 'ready.' line"
    about_task = [r for r in records if r.get("task_id") == task_id]
    assert about_task, [r for r in records if task_id in r["message"]]
    assert any(r.get("outcome_id") == missing_outcome for r in about_task), about_task
    assert all(r["task"] == queues.TRAIN_FROM_OUTCOME for r in about_task)
    beat_records = json_records(beat)
    assert any(r["message"] == "beat: Starting..." for r in beat_records), beat_records[-5:]
    assert any(r["logger"] == "pantheon.cli.services" for r in beat_records)
    for proc in (worker, beat):
        assert TOKEN not in proc.log_text()
