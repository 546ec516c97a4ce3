"""A migrated Database over ``database_url`` (SQLite and a fresh PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pantheon.config import Settings
from pantheon.store.db import Database
from pantheon.store.migrate import ensure_schema
from tests.integration.training.procs import build_settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return build_settings(database_url, tmp_path)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    ensure_schema(settings)
    database = Database(settings)
    yield database
    database.dispose()
