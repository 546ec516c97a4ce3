"""The real application on a SQLite database, with a token and a cron secret set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pantheon.api.app import create_app
from pantheon.store.migrate import ensure_schema

TOKEN = "tok-" + "7f3a9c1e5b2d4f60" * 2
CRON = "cron-" + "a1b2c3d4e5f60718" * 2
#: Wrong secrets sent by the tests: they must not be echoed either.
WRONG_TOKEN = "wrong-token-marker-" + "0" * 16
WRONG_CRON = "wrong-cron-marker-" + "1" * 16

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(make_settings: Any) -> Iterator[MakeClient]:
    clients: list[TestClient] = []

    def _make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {"api_token": TOKEN, "cron_secret": CRON}
        values.update(overrides)
        settings = make_settings(**values)
        ensure_schema(settings)
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.__exit__(None, None, None)
