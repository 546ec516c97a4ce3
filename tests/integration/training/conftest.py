"""TrainingService fixtures over ``database_url`` (SQLite and a fresh PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pantheon.store.db import Database
from pantheon.store.migrate import ensure_schema
from pantheon.training.service import TrainingService
from tests.integration.training.procs import build_settings


@pytest.fixture
def make_service(database_url: str, tmp_path: Path) -> Iterator[Callable[..., TrainingService]]:
    made: list[Database] = []

    def _make(**overrides: Any) -> TrainingService:
        settings = build_settings(database_url, tmp_path, **overrides)
        ensure_schema(settings)
        db = Database(settings)
        made.append(db)
        return TrainingService(settings, database=db)

    yield _make
    for db in made:
        db.dispose()


@pytest.fixture
def svc(make_service: Callable[..., TrainingService]) -> TrainingService:
    return make_service()
