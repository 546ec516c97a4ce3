"""Fixtures for API tests: an app on a fresh PostgreSQL database, in sync mode by default."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pantheon.api.app import create_app
from pantheon.config import Settings
from pantheon.store.migrate import ensure_schema
from tests.processes import stop_group

REPO = Path(__file__).resolve().parents[3]
QUEUES = "training_fast,training_batch,training_slow"

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(postgres_url: str, make_settings: Any) -> Iterator[MakeClient]:
    """Builds a TestClient for an app on the test's PostgreSQL database (schema at head)."""
    clients: list[TestClient] = []

    def _make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {"database_url_raw": postgres_url}
        values.update(overrides)
        settings: Settings = make_settings(**values)
        if settings.database_url_raw == postgres_url:
            ensure_schema(settings)
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def outcome(god: str = "zeus", prompt: str = "What is 2 + 2?", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"god_name": god, "prompt": prompt, "response": "4", "success": True}
    body.update(fields)
    return body


def wait_for(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    """Polls ``check`` until it returns something truthy; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout:.0f}s")
        time.sleep(every)


def worker_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PANTHEON_", "CELERY_"))}
    env.update(
        {
            "PANTHEON_ENV": "test",
            "PANTHEON_DATA_DIR": str(data_dir),
            "DATABASE_URL": str(settings.database_url_raw),
            "REDIS_URL": settings.redis_url,
            "PANTHEON_TASK_MODE": "celery",
        }
    )
    return env


@pytest.fixture
def celery_worker(tmp_path: Path) -> Iterator[Callable[[Settings], subprocess.Popen[bytes]]]:
    """Starts a real ``celery worker`` on the three queues for the given settings."""
    procs: list[subprocess.Popen[bytes]] = []

    def _start(settings: Settings) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(procs)}.log").open("wb")
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "pantheon.worker.celery_app",
                "worker",
                "-Q",
                QUEUES,
                "--concurrency=1",
                "--loglevel=INFO",
                f"--hostname=api-test-{os.getpid()}-{len(procs)}@%h",
            ],
            cwd=REPO,
            env=worker_env(settings, tmp_path / "worker-data"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        if proc.poll() is None:
            stop_group(proc)
