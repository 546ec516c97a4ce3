"""Revision 0004: nullable basins with their coordizer version, on a populated database."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.store import migrate
from pantheon.store.basins import encode_basins
from pantheon.store.db import Database
from pantheon.store.models import LEGACY_COORDIZER_VERSION

pytestmark = pytest.mark.integration

INSERT_OUTCOME = (
    "INSERT INTO outcomes (god_name, prompt, response, success, basin, reward, source_type, "
    "created_at) VALUES ('zeus', :p, 'r', true, :b, 0.5, 'chat', :t)"
)
INSERT_KERNEL = (
    "INSERT INTO kernels (name, god_name, kind, state, version, step_count, outcomes_trained, "
    "metrics, retired, created_at, updated_at) VALUES ('zeus', 'zeus', 'god', :s, 1, 0, 0, "
    "'{}', false, :t, :t)"
)


def test_0004_marks_old_rows_and_downgrades_cleanly(settings: Settings) -> None:
    migrate.upgrade(settings, "0003")
    db = Database(settings)
    try:
        basin = encode_basins(np.full((1, 64), 1 / 64))[0]
        with db.engine.begin() as conn:
            conn.execute(sa.text(INSERT_OUTCOME), {"p": "old", "b": basin, "t": utcnow()})
            conn.execute(sa.text(INSERT_KERNEL), {"s": b"state", "t": utcnow()})
        migrate.upgrade(settings, "0004")
        db.dispose()
        with db.engine.begin() as conn:
            row = conn.execute(sa.text("SELECT basin, coordizer_version FROM outcomes")).one()
            assert (bytes(row[0]), row[1]) == (basin, None)  # read as the legacy coordizer
            kernel = conn.execute(sa.text("SELECT coordizer_version FROM kernels")).scalar_one()
            assert kernel == LEGACY_COORDIZER_VERSION
            conn.execute(
                sa.text(
                    "INSERT INTO outcomes (god_name, prompt, response, success, reward, "
                    "source_type, created_at) VALUES ('zeus', 'new', 'r', true, 0.5, 'chat', :t)"
                ),
                {"t": utcnow()},
            )
        migrate.downgrade(settings, "0003")
        db.dispose()
        with db.engine.connect() as conn:
            blobs: dict[str, bytes] = dict(
                conn.execute(sa.text("SELECT prompt, basin FROM outcomes")).all()
            )
        assert bytes(blobs["old"]) == basin
        # A basin never computed comes back as NaN, which the claims of 0003 and older quarantine.
        assert np.isnan(np.frombuffer(bytes(blobs["new"]), "<f4")).all()
        cols = {c["name"] for c in sa.inspect(db.engine).get_columns("outcomes")}
        assert "coordizer_version" not in cols
    finally:
        db.dispose()
