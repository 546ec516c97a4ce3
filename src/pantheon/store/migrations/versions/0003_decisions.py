"""Routing decisions: ``decisions`` (one row per ``POST /api/route``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

A decision keeps the prompt's basin and sha256 (not its text), the candidates with their
scores and choice probabilities, the chosen god and its propensity, the policy and the
kernel versions; the first outcome naming the decision links itself (``outcome_id``,
``outcome_god``, ``override``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prompt_sha256", sa.String(64), nullable=False),
        sa.Column("basin", sa.LargeBinary(), nullable=False),
        sa.Column("candidates", JSONType, nullable=False),
        sa.Column("scores", JSONType, nullable=False),
        sa.Column("probabilities", JSONType, nullable=False),
        sa.Column("predictions", JSONType, nullable=False),
        sa.Column("chosen_god", sa.String(120), nullable=False),
        sa.Column("propensity", sa.Float(), nullable=False),
        sa.Column("policy", sa.String(20), nullable=False),
        sa.Column("policy_params", JSONType, nullable=False),
        sa.Column("kernel_versions", JSONType, nullable=False),
        sa.Column("outcome_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome_god", sa.String(120), nullable=True),
        sa.Column("override", sa.Boolean(), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_created_at", "decisions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_decisions_created_at", table_name="decisions")
    op.drop_table("decisions")
