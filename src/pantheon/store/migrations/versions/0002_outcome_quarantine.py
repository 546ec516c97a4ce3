"""Quarantine of undecodable outcomes: ``outcomes.quarantined_at`` and ``outcomes.error``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

A stored row that cannot be turned into a training example (a basin that is not 64
float32 values, non-finite numbers) is marked here by the claim that found it, so claims,
the outbox sweep and consolidation skip it instead of failing on it forever.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns without defaults: a catalogue-only change on PostgreSQL.
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("error")
        batch.drop_column("quarantined_at")
