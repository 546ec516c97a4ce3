"""Operating a real worker as a Celery user would: ``celery -A pantheon``, task events,
Flower behind basic auth, a plain Celery client's message trained, and health that sees a
worker as soon as it is ready.

Each test runs real processes on PostgreSQL and a fresh Redis database (or RabbitMQ vhost).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from celery import Celery
from fastapi.testclient import TestClient

from pantheon.api.app import create_app
from pantheon.config import Settings
from pantheon.store.migrate import ensure_schema
from pantheon.testing import VENV_BIN, free_port, wait_until
from pantheon.training.intake import OutcomeIn, ingest
from pantheon.training.service import TrainingService
from pantheon.worker import queues
from pantheon.worker.broker import beat_alive, queue_depths
from pantheon.worker.celery_app import create_celery
from tests.e2e.worker.conftest import Cluster

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[3]
FLOWER_USER = "ops:flower-test-password"
OUTCOME = {"god_name": "zeus", "prompt": "plan the campaign", "response": "a plan", "success": True}


def _service(settings: Settings) -> TrainingService:
    ensure_schema(settings)
    return TrainingService(settings)


def _store_outcome(service: TrainingService, key: str) -> int:
    return int(ingest(service, [OutcomeIn.parse({**OUTCOME, "outcome_key": key})]).new_ids[0])


class EventLog:
    """Task events read off the broker by a kombu receiver (no Flower involved)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.events: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self._receiver: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> EventLog:
        self._thread.start()
        assert self.ready.wait(20), "event receiver did not start"
        return self

    def __exit__(self, *_: object) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(10)

    def _run(self) -> None:
        with self.app.connection_for_read() as conn:
            self._receiver = self.app.events.Receiver(
                conn, handlers={"*": self.events.append}, app=self.app
            )
            # A generator over the consume loop: each step has drained (or timed out once).
            for _ in self._receiver.itercapture(limit=None, timeout=None, wakeup=False):
                self.ready.set()
                if self._receiver.should_stop:
                    break

    def types_for(self, task_id: str) -> set[str]:
        return {str(e.get("type")) for e in list(self.events) if e.get("uuid") == task_id}


def test_celery_a_pantheon_worker_sends_task_events_and_flower_needs_auth(
    make_cluster: Any, postgres_url: str, output_dir: Path
) -> None:
    cluster: Cluster = make_cluster(DATABASE_URL=postgres_url)
    service = _service(cluster.settings())
    name = f"w-{uuid.uuid4().hex[:6]}@%h"
    worker = cluster.spawn(
        "worker",
        [str(VENV_BIN / "celery"), "-A", "pantheon", "worker", "-l", "INFO", "-c", "1", "-n", name],
    )
    worker.wait_for_log("ready.", timeout=60)
    assert "task events: ON" in worker.log_text()
    assert "pong" in cluster.celery_cli("inspect", "ping", "--timeout", "5", app="pantheon")
    active = cluster.celery_cli("inspect", "active_queues", "--timeout", "5", app="pantheon")
    for queue in queues.ALL_QUEUES:
        assert f"'name': '{queue}'" in active, active

    # Events, read straight off the broker: sent (by the sender), received, started, succeeded.
    app = create_celery(cluster.settings())
    with EventLog(app) as events:
        outcome_id = _store_outcome(service, "events-1")
        sent = app.send_task(queues.TRAIN_FROM_OUTCOME, kwargs={"outcome_id": outcome_id})
        assert sent.get(timeout=60)["status"] == "success"
        wanted = {"task-sent", "task-received", "task-started", "task-succeeded"}
        wait_until(lambda: wanted <= events.types_for(str(sent.id)), timeout=20)

    # Flower through the same `celery -A pantheon`, behind basic auth.
    port = free_port()
    flower = cluster.spawn(
        "flower",
        [
            str(VENV_BIN / "celery"),
            "-A",
            "pantheon",
            "flower",
            "--address=127.0.0.1",
            f"--port={port}",
            f"--basic-auth={FLOWER_USER}",
        ],
    )
    base = f"http://127.0.0.1:{port}"

    def flower_up() -> bool:
        popen = cast(subprocess.Popen[bytes], flower.popen)  # spawn() started it
        assert popen.poll() is None, flower.log_text()[-3000:]
        try:
            return httpx.get(f"{base}/api/workers", timeout=2).status_code == 401
        except httpx.HTTPError:
            return False

    wait_until(flower_up, timeout=60, interval=0.3)
    assert httpx.get(f"{base}/api/tasks", timeout=5).status_code == 401
    assert httpx.get(f"{base}/tasks", timeout=5).status_code == 401
    wrong = httpx.get(f"{base}/api/tasks", auth=("ops", "wrong"), timeout=5)
    assert wrong.status_code == 401
    user, password = FLOWER_USER.split(":", 1)

    later = app.send_task(
        queues.TRAIN_FROM_OUTCOME, kwargs={"outcome_id": _store_outcome(service, "flower-1")}
    )
    assert later.get(timeout=60)["status"] == "success"

    def listed() -> dict[str, Any] | None:
        answer = httpx.get(f"{base}/api/tasks", auth=(user, password), timeout=5)
        assert answer.status_code == 200, answer.text
        task = answer.json().get(str(later.id))
        return task if task and task.get("state") == "SUCCESS" else None

    wait_until(listed, timeout=30, interval=0.5)
    task = listed()
    assert task is not None
    assert task["name"] == queues.TRAIN_FROM_OUTCOME
    _screenshot(f"{base}/tasks", user, password, output_dir / "flower-tasks.png", cluster.run_dir)


def _screenshot(url: str, user: str, password: str, target: Path, tmp: Path) -> None:
    """Flower's task list in headless Chromium, when Chromium is installed."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        return  # optional: the API checks above are the test
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp / 'chromium'}",
            "--window-size=1400,900",
            "--virtual-time-budget=8000",
            f"--screenshot={target}",
            url.replace("http://", f"http://{user}:{password}@"),
        ],
        capture_output=True,
        timeout=120,
        check=False,
        env={"HOME": str(tmp)},
    )
    assert target.exists(), "no Flower screenshot"
    assert target.stat().st_size > 10_000


def test_a_plain_celery_client_sending_by_name_without_a_queue_is_trained(
    make_cluster: Any, broker_url: str, postgres_url: str, redis_url: str
) -> None:
    cluster: Cluster = make_cluster(broker=broker_url, DATABASE_URL=postgres_url)
    service = _service(cluster.settings())
    pantheon_app = create_celery(cluster.settings())
    # A client that knows nothing of Pantheon's routes: Celery's defaults put the message
    # on the `celery` queue.
    plain = Celery("someone-else", broker=broker_url, backend=redis_url, set_as_current=False)
    outcome_id = _store_outcome(service, "plain-1")
    sent = plain.send_task(queues.TRAIN_FROM_OUTCOME, kwargs={"outcome_id": outcome_id})

    # Nobody consumes yet: /api/queues shows where it waits.
    web = TestClient(create_app(cluster.settings().model_copy(update={"task_mode": "auto"})))
    with web:

        def waiting() -> bool:
            body = web.get("/api/queues").json()
            return bool(body["broker"] == "ok" and body["queues"].get("celery") == 1)

        wait_until(waiting, timeout=20, interval=0.3)
        health = web.get("/api/health").json()
        assert "1 message(s) on queue celery and no worker consumes it" in health["problems"]
        assert health["status"] == "degraded"
        cluster.pantheon("worker", "worker").wait_for_log("ready.", timeout=60)
        assert _bindings(broker_url) == {name: {name} for name in queues.ALL_QUEUES}
        result = sent.get(timeout=60)
        assert result["status"] == "success"
        assert result["outcome_id"] == outcome_id
        assert not service.pending_online(0, 10)
        wait_until(lambda: web.get("/api/queues").json()["queues"]["celery"] == 0, timeout=20)
    assert queue_depths(pantheon_app)[queues.DEFAULT] == 0


def _bindings(broker_url: str) -> dict[str, set[str]]:
    """Exchange → queues bound to it, as the broker itself records them (ours only)."""
    found: dict[str, set[str]] = {}
    if broker_url.startswith("redis"):
        client = redis.Redis.from_url(broker_url)
        for exchange in queues.ALL_QUEUES:
            for member in client.smembers(f"_kombu.binding.{exchange}"):
                queue = cast(bytes, member).decode().split("\x06\x16")[-1]  # no decode_responses
                found.setdefault(exchange, set()).add(queue)
        client.close()
        return found
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("!!! SKIPPED: rabbitmqctl is needed to read RabbitMQ's bindings !!!")
    vhost = urlsplit(broker_url).path.lstrip("/") or "/"
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_bindings", "-p", vhost, "source_name", "destination_name"],
        capture_output=True,
        check=True,
        timeout=60,
        text=True,
    ).stdout
    for line in listing.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] in queues.ALL_QUEUES:
            found.setdefault(parts[0], set()).add(parts[1])
    return found


def test_health_sees_a_ready_worker_within_seconds(make_cluster: Any, postgres_url: str) -> None:
    # The default cache period (5 s): health must not wait for it to see a new worker.
    cluster: Cluster = make_cluster(DATABASE_URL=postgres_url, PANTHEON_MODE_CACHE_SECONDS="5")
    settings = cluster.settings()
    _service(settings)
    app = create_celery(settings)
    cluster.pantheon("beat", "beat").wait_for_log("Acquired lock", timeout=60)
    wait_until(lambda: beat_alive(app), timeout=20)
    web = TestClient(create_app(settings))
    with web:
        for _ in range(3):  # the web has looked (and cached) while no worker was there
            body = web.get("/api/health").json()
            assert body["status"] == "degraded"
            assert "no worker consumes every training queue" in body["problems"]
            time.sleep(0.5)
        worker = cluster.pantheon("worker", "worker")
        worker.wait_for_log("ready.", timeout=60)
        ready_at = time.monotonic()
        while True:
            body = web.get("/api/health").json()
            if body["status"] == "ok":
                break
            assert time.monotonic() - ready_at < 10, body
            time.sleep(0.2)
        seen_after = time.monotonic() - ready_at
    print(f"health ok {seen_after:.2f}s after the worker logged ready")
    assert body["mode"] == "celery"
    assert body["workers"] == 1
    assert body["problems"] == []
    assert seen_after <= 3.0, f"health saw the ready worker only after {seen_after:.1f}s"
