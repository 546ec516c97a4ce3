"""Process entry points for concurrency tests (spawned: importable, top-level, picklable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pantheon.config import Settings
from pantheon.store.db import Database
from pantheon.training.online import OnlineResult
from pantheon.training.results import Disabled, HourlyResult
from pantheon.training.service import TrainingService


def build_settings(url: str, root: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": root / "data",
        "task_mode": "sync",
        "database_url_raw": url,
        "checkpoint_dir_raw": root / "checkpoints",
        "online_drain_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


def kill_other_backends(url: str) -> int:
    """The server ends every other connection to the database at ``url`` (as a restart or
    an idle-connection reaper would); how many it ended."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _warm_up(service: TrainingService, barrier: Any) -> None:
    """Connect and import everything, then start together with the other process."""
    service.database.ping()
    barrier.wait(timeout=120)


def train_outcomes(
    url: str, root: str, ids: list[int], overrides: dict[str, Any], barrier: Any
) -> list[OnlineResult]:
    settings = build_settings(url, Path(root), **overrides)
    db = Database(settings)
    try:
        service = TrainingService(settings, database=db)
        _warm_up(service, barrier)
        return [service.train_from_outcome(i) for i in ids]
    finally:
        db.dispose()


def train_outcomes_following(
    url: str, root: str, ids: list[int], overrides: dict[str, Any], barrier: Any
) -> list[OnlineResult]:
    """As :func:`train_outcomes`, then train each ``next_outcome_id`` a call names (a drain
    out of time with a backlog left, or a duplicate while the god has pending outcomes),
    as the worker's follow-up does."""
    settings = build_settings(url, Path(root), **overrides)
    db = Database(settings)
    try:
        service = TrainingService(settings, database=db)
        _warm_up(service, barrier)
        results = []
        todo = list(ids)
        while todo:
            result = service.train_from_outcome(todo.pop(0))
            results.append(result)
            backlog = result.get("next_outcome_id")
            if isinstance(backlog, int):
                todo.insert(0, backlog)
        return results
    finally:
        db.dispose()


def hourly_batch(
    url: str, root: str, god: str, chunk: int, barrier: Any
) -> HourlyResult | Disabled:
    settings = build_settings(url, Path(root))
    db = Database(settings)
    try:
        service = TrainingService(settings, database=db)
        service.hourly_chunk = chunk
        _warm_up(service, barrier)
        return service.train_hourly_batch(god)
    finally:
        db.dispose()
