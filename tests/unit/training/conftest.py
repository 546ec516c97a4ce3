"""A TrainingService on a fresh SQLite database (no external service needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pantheon.training.intake import OutcomeIn, ingest
from pantheon.training.service import TrainingService


@pytest.fixture
def make_service(make_settings, tmp_path: Path, open_service) -> Callable[..., TrainingService]:  # type: ignore[no-untyped-def]
    def _make(**overrides: Any) -> TrainingService:
        values: dict[str, Any] = {
            "database_url_raw": f"sqlite:///{tmp_path / 'pantheon.db'}",
            "checkpoint_dir_raw": tmp_path / "checkpoints",
            "online_drain_seconds": 0.0,
        }
        values.update(overrides)
        return open_service(make_settings(**values))  # type: ignore[no-any-return]

    return _make


@pytest.fixture
def svc(make_service: Callable[..., TrainingService]) -> TrainingService:
    return make_service()


def outcome(god: str = "zeus", i: int = 0, **kw: Any) -> OutcomeIn:
    values: dict[str, Any] = {
        "god_name": god,
        "prompt": f"prompt number {i} about {god}",
        "response": "an answer",
        "success": i % 2 == 0,
    }
    values.update(kw)
    return OutcomeIn(**values)


def add(service: TrainingService, god: str = "zeus", n: int = 10, start: int = 0) -> list[int]:
    return ingest(service, [outcome(god, i) for i in range(start, start + n)]).outcome_ids
