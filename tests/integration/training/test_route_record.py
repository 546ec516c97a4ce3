"""A routed decision is committed before ``route`` returns, on one round trip that
survives a pooled connection the server has dropped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import QueuePool

from pantheon.config import Settings
from pantheon.store import db as db_module
from pantheon.store import decisions as decision_rows
from pantheon.store.models import decisions as decision_table
from pantheon.training import decisions
from pantheon.training.service import TrainingService
from tests.integration.training.procs import build_settings, kill_other_backends

pytestmark = pytest.mark.integration


def _count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(decision_table)
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_a_routed_decision_is_visible_to_another_connection_at_once(
    svc: TrainingService, open_service: Callable[[Settings], TrainingService]
) -> None:
    d = decisions.route(svc, "what is the capital of France", candidates=["athena", "zeus"])
    other = open_service(svc.settings)  # its own pool: sees only what was committed
    view = decisions.get_decision(other, d.decision_id)
    assert view.god_name == d.god_name
    assert view.propensity == d.propensity


def test_a_route_after_the_server_dropped_its_connection_records_once(
    postgres_url: str,
    tmp_path: Path,
    open_service: Callable[[Settings], TrainingService],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every backend is killed, the main pool's too; it pings each checkout here so the reads
    # around the route are served, and only the autocommit pool's retry is under test.
    # (The main pool's own behaviour: tests/integration/store/test_db_ping.py.)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)
    settings = build_settings(postgres_url, tmp_path)
    svc = open_service(settings)
    decisions.route(svc, "first prompt", candidates=["athena", "zeus"])
    pool = cast(QueuePool, svc.database.autocommit_engine.pool)  # create_engine's default
    assert pool.checkedin() >= 1  # the INSERT's connection waits in the pool, unpinged
    assert kill_other_backends(postgres_url) >= 1
    d = decisions.route(svc, "second prompt", candidates=["athena", "zeus"])
    assert decisions.get_decision(svc, d.decision_id).god_name == d.god_name
    assert _count(postgres_url) == 2


def test_the_decision_insert_run_twice_writes_one_row(
    postgres_url: str, tmp_path: Path, open_service: Callable[[Settings], TrainingService]
) -> None:
    # The retry after a dropped connection may follow a first attempt that did commit.
    svc = open_service(build_settings(postgres_url, tmp_path))
    d = decisions.route(svc, "a prompt routed once", candidates=["athena", "zeus"])
    with svc.database.engine.connect() as conn:
        row = dict(
            conn.execute(sa.select(decision_table).where(decision_table.c.id == d.decision_id))
            .mappings()
            .one()
        )
    svc.database.autocommit(lambda conn: decision_rows.insert_autocommit(conn, row))
    assert _count(postgres_url) == 1
    assert decisions.get_decision(svc, d.decision_id).god_name == d.god_name
