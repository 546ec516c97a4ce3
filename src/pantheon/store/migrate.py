"""Schema migrations (Alembic, shipped in the package): upgrade, downgrade, current.

Production runs ``pantheon db upgrade`` before starting services; nothing creates tables
implicitly there. :func:`ensure_schema` is for the embedded mode, the demo and tests.
"""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pantheon.config import Settings
from pantheon.store.db import Database

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_ensured: set[str] = set()
_ensure_lock = threading.Lock()


def alembic_config(settings: Settings) -> Config:
    cfg = Config(stdout=io.StringIO())
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["settings"] = settings
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config(Settings())).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def upgrade(settings: Settings, rev: str = "head") -> None:
    log.info("upgrading database schema to %s", rev)
    command.upgrade(alembic_config(settings), rev)


def downgrade(settings: Settings, rev: str = "base") -> None:
    log.info("downgrading database schema to %s", rev)
    command.downgrade(alembic_config(settings), rev)
    _ensured.discard(settings.database_url)


def current(settings: Settings) -> str | None:
    """The database's revision, or None when it has none (empty database)."""
    database = Database(settings)
    try:
        with database.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        database.dispose()


def ensure_schema(settings: Settings) -> None:
    """Upgrade to head once per process and URL (embedded mode, demo, tests)."""
    with _ensure_lock:
        if settings.database_url in _ensured:
            return
        if current(settings) != head_revision():
            upgrade(settings)
        _ensured.add(settings.database_url)
