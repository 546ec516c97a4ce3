"""Fixtures for API tests: an app on a fresh PostgreSQL database, in sync mode by default."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pantheon.config import Settings
from pantheon.testing import Proc, Stack, wait_until

REPO = Path(__file__).resolve().parents[3]

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(postgres_url: str, make_settings: Any, open_client: MakeClient) -> MakeClient:
    """Builds a TestClient for an app on the test's PostgreSQL database (schema at head)."""

    def _make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {"database_url_raw": postgres_url}
        values.update(overrides)
        settings: Settings = make_settings(**values)
        return open_client(settings, schema=settings.database_url_raw == postgres_url)

    return _make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def outcome(god: str = "zeus", prompt: str = "What is 2 + 2?", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"god_name": god, "prompt": prompt, "response": "4", "success": True}
    body.update(fields)
    return body


def finished(client: TestClient, task_id: str) -> dict[str, Any]:
    """A dispatched task's status once it is ready (a worker's, or a background thread's in
    sync mode), long-polled."""

    def ready() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/api/tasks/{task_id}", params={"timeout": 2}).json()
        return body if body["ready"] else None

    result: dict[str, Any] = wait_until(ready, timeout=60)
    return result


@pytest.fixture
def celery_worker(tmp_path: Path) -> Iterator[Callable[[Settings], Proc]]:
    """Starts a real ``celery worker`` on the three queues for the given settings."""
    stacks: list[Stack] = []

    def _start(settings: Settings) -> Proc:
        stack = Stack(
            tmp_path / f"worker-{len(stacks)}",
            postgres=str(settings.database_url_raw),
            redis=settings.redis_url,
            env={"PANTHEON_TASK_MODE": "celery"},
            cwd=REPO,
        )
        stacks.append(stack)
        return stack.worker(concurrency=1, wait=False)

    yield _start
    for stack in stacks:
        stack.close()
