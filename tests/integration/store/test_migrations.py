"""Migrations build the models' schema on an empty database and take it down again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pantheon.cli import main
from pantheon.config import Settings
from pantheon.store import migrate
from pantheon.store.db import Database
from pantheon.store.models import Base

pytestmark = pytest.mark.integration

TABLES = {
    "outcomes",
    "kernels",
    "checkpoints",
    "checkpoint_blobs",
    "schedule_runs",
    "knowledge_transfers",
    "training_history",
}


def _tables(settings: Settings) -> set[str]:
    db = Database(settings)
    try:
        return set(sa.inspect(db.engine).get_table_names())
    finally:
        db.dispose()


def test_upgrade_empty_then_downgrade(settings: Settings) -> None:
    assert migrate.current(settings) is None
    migrate.upgrade(settings)
    assert migrate.current(settings) == migrate.head_revision()
    assert _tables(settings) >= TABLES
    migrate.upgrade(settings)  # idempotent
    migrate.downgrade(settings)
    assert migrate.current(settings) is None
    assert not _tables(settings) & TABLES
    migrate.ensure_schema(settings)
    assert _tables(settings) >= TABLES


def test_migrations_match_the_models(settings: Settings) -> None:
    migrate.upgrade(settings)
    db = Database(settings)
    try:
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        db.dispose()
    assert diff == []


def test_cli_upgrade_is_idempotent(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    assert main(["--log-level", "WARNING", "db", "upgrade"]) == 0
    assert "upgraded base -> " in capsys.readouterr().out
    assert main(["--log-level", "WARNING", "db", "upgrade"]) == 0
    assert "already at" in capsys.readouterr().out
    assert main(["--log-level", "WARNING", "db", "current"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["--log-level", "WARNING", "db", "downgrade"]) == 0
    assert migrate.current(settings) is None


def test_concurrent_upgrades_both_succeed(settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PANTHEON_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "pantheon", "db", "upgrade"]
    procs = [
        subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert migrate.current(settings) == migrate.head_revision()
