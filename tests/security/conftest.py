"""The real application on a SQLite database, with a token and a cron secret set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

TOKEN = "tok-" + "7f3a9c1e5b2d4f60" * 2
CRON = "cron-" + "a1b2c3d4e5f60718" * 2
#: Wrong secrets sent by the tests: they must not be echoed either.
WRONG_TOKEN = "wrong-token-marker-" + "0" * 16
WRONG_CRON = "wrong-cron-marker-" + "1" * 16

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(make_settings: Any, open_client: MakeClient) -> MakeClient:
    def _make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {"api_token": TOKEN, "cron_secret": CRON}
        values.update(overrides)
        return open_client(make_settings(**values))

    return _make
