"""Cost that stays flat as outcomes pile up: a partial index of untrained outcomes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

The outbox sweep asks for the oldest outcomes not trained online (``ORDER BY id LIMIT
n``, any god). With only ``ix_outcomes_pending_online`` (god, id) PostgreSQL may walk the
primary key from the start and filter out every trained row: a cost that grows with the
table. ``ix_outcomes_untrained`` holds only the rows still untrained and healthy (a few
thousand at most in a working system), so the sweep reads the first ``n`` entries of a
small index whatever the table's size. A row leaves it when it is trained or quarantined.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREDICATE = "trained_online_at IS NULL AND quarantined_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_outcomes_untrained",
        "outcomes",
        ["id"],
        postgresql_where=sa.text(_PREDICATE),
        sqlite_where=sa.text(_PREDICATE),
    )


def downgrade() -> None:
    op.drop_index("ix_outcomes_untrained", table_name="outcomes")
