"""PostgreSQL connections are pinged before use only after sitting idle in the pool: an idle
connection the server dropped is replaced unseen; a busy one fails its statement once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from pantheon.errors import DatabaseUnavailableError
from pantheon.store import db as db_module
from pantheon.store.db import Database
from tests.integration.training.procs import build_settings, kill_other_backends

pytestmark = pytest.mark.integration


@pytest.fixture
def database(postgres_url: str, tmp_path: Path) -> Iterator[Database]:
    database = Database(build_settings(postgres_url, tmp_path))
    yield database
    database.dispose()


def _backend_pid(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    database: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.05)
    first = _backend_pid(database)
    assert kill_other_backends(postgres_url) >= 1
    time.sleep(0.1)  # idle for longer than the threshold: the checkout pings it
    second = _backend_pid(database)  # no error: the ping found it dead, a new one answered
    assert second != first


def test_a_busy_connection_is_not_pinged_and_a_dead_one_fails_once(
    database: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)
    first = _backend_pid(database)
    assert kill_other_backends(postgres_url) >= 1
    # Reused within the threshold: no ping, so the statement meets the dead connection.
    with pytest.raises(DatabaseUnavailableError):
        _backend_pid(database)
    # SQLAlchemy replaced the pool's older connections: the next request is served.
    assert _backend_pid(database) != first
