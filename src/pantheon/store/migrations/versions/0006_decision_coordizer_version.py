"""A decision records the ``COORDIZER_VERSION`` of its basin.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

An outcome linked to a decision takes the decision's basin when the version is known and
the prompt's sha256 matches, so the worker trains it without encoding the prompt again.
Decisions recorded before this revision keep ``coordizer_version`` NULL (a catalogue-only
column on PostgreSQL, no table rewrite) and are never reused: their basin's version is
unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("coordizer_version", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("coordizer_version")
