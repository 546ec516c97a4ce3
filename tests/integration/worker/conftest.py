"""A real training service on a fresh database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pantheon.config import Settings
from pantheon.store.migrate import ensure_schema
from pantheon.training.service import TrainingService


@pytest.fixture
def real_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    settings = make_settings(database_url_raw=database_url, outbox_sweep_after=0)
    ensure_schema(settings)
    return settings


@pytest.fixture
def real_service(real_settings: Settings) -> Any:
    service = TrainingService(real_settings)
    yield service
    service.database.dispose()
