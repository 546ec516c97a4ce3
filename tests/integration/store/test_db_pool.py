"""The pools keep their connections: concurrency above the old pool size reuses the same
PostgreSQL backends instead of opening and closing one per request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from pantheon.store.db import Database
from tests.integration.training.procs import build_settings

pytestmark = pytest.mark.integration

#: Concurrent sessions per round: above the old default's 5 kept connections.
CONCURRENT = 12


@pytest.fixture
def database(postgres_url: str, tmp_path: Path) -> Iterator[Database]:
    database = Database(build_settings(postgres_url, tmp_path))
    yield database
    database.dispose()


def _round(database: Database) -> set[int]:
    """The backend of each of ``CONCURRENT`` sessions held open at the same moment."""
    together = threading.Barrier(CONCURRENT, timeout=30)

    def one(_: int) -> int:
        with database.session(write=False) as session:
            pid = int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
            together.wait()  # every session holds its connection at once
            return pid

    with ThreadPoolExecutor(CONCURRENT) as pool:
        return set(pool.map(one, range(CONCURRENT)))


def test_concurrent_sessions_reuse_the_connections_of_the_last_burst(
    database: Database,
) -> None:
    assert database.settings.db_pool_size >= CONCURRENT
    first = _round(database)
    assert len(first) == CONCURRENT
    # With an overflow, every connection above the kept ones was closed on return and the
    # next burst opened new backends; a fixed pool hands the same ones out again.
    assert _round(database) == first
