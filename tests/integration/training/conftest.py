"""TrainingService fixtures over ``database_url`` (SQLite and a fresh PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pantheon.config import Settings
from pantheon.training.service import TrainingService
from tests.integration.training.procs import build_settings


@pytest.fixture
def make_service(
    database_url: str, tmp_path: Path, open_service: Callable[[Settings], TrainingService]
) -> Callable[..., TrainingService]:
    def _make(**overrides: Any) -> TrainingService:
        return open_service(build_settings(database_url, tmp_path, **overrides))

    return _make


@pytest.fixture
def svc(make_service: Callable[..., TrainingService]) -> TrainingService:
    return make_service()
