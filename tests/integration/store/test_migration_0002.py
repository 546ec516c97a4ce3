"""Revision 0002 adds the quarantine columns to a populated 0001 schema and removes them."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.store import migrate
from pantheon.store.basins import encode_basins
from pantheon.store.db import Database

pytestmark = pytest.mark.integration


def _columns(db: Database) -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns("outcomes")}


def test_0002_keeps_rows_and_adds_nullable_columns(settings: Settings) -> None:
    migrate.upgrade(settings, "0001")
    db = Database(settings)
    try:
        basin = encode_basins(np.full((1, 64), 1 / 64))[0]
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO outcomes (god_name, prompt, response, success, basin, reward, "
                    "source_type, created_at) VALUES ('zeus', 'p', 'r', true, :b, 0.5, 'chat', :t)"
                ),
                {"b": basin, "t": utcnow()},
            )
        assert "quarantined_at" not in _columns(db)
        migrate.upgrade(settings, "0002")
        assert migrate.current(settings) == "0002"
        db.dispose()
        assert {"quarantined_at", "error"} <= _columns(db)
        with db.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT prompt, quarantined_at, error FROM outcomes")).one()
        assert tuple(row) == ("p", None, None)
        migrate.downgrade(settings, "0001")
        db.dispose()
        assert "quarantined_at" not in _columns(db)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM outcomes")).scalar_one() == 1
    finally:
        db.dispose()
