"""Initial schema: outcomes and their batch queue, kernels, checkpoints, blobs, schedule
runs, audit tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

The tables of ``pantheon.store.models``; ``tests/integration/store/test_migrations.py``
checks that this revision and the models do not drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types (a migration never imports the models).
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "checkpoint_blobs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoint_blobs")),
        sa.UniqueConstraint("key", name=op.f("uq_checkpoint_blobs_key")),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kernel_name", sa.String(length=140), nullable=False),
        sa.Column("god_name", sa.String(length=120), nullable=False),
        sa.Column("kernel_version", sa.Integer(), nullable=False),
        sa.Column("step_count", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("uri", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "trigger IN ('outcome', 'hourly_batch', 'nightly_consolidation', 'manual', "
            "'transfer', 'restore')",
            name=op.f("ck_checkpoints_trigger"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
        sa.UniqueConstraint("uri", name=op.f("uq_checkpoints_uri")),
    )
    op.create_index(
        "ix_checkpoints_kernel_name_created_at",
        "checkpoints",
        ["kernel_name", "created_at"],
        unique=False,
    )
    op.create_table(
        "kernels",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=140), nullable=False),
        sa.Column("god_name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("step_count", sa.BigInteger(), nullable=False),
        sa.Column("outcomes_trained", sa.BigInteger(), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("kind IN ('god', 'shadow')", name=op.f("ck_kernels_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kernels")),
        sa.UniqueConstraint("name", name=op.f("uq_kernels_name")),
    )
    op.create_table(
        "knowledge_transfers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("transfer_type", sa.String(length=40), nullable=False),
        sa.Column("source_name", sa.String(length=140), nullable=False),
        sa.Column("target_name", sa.String(length=140), nullable=False),
        sa.Column("blend_ratio", sa.Float(), nullable=False),
        sa.Column("phi_before", sa.Float(), nullable=True),
        sa.Column("phi_after", sa.Float(), nullable=True),
        sa.Column("source_retired", sa.Boolean(), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_transfers")),
    )
    op.create_table(
        "outcome_batch_queue",
        sa.Column("outcome_id", ID, autoincrement=False, nullable=False),
        sa.Column("god_name", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("outcome_id", name=op.f("pk_outcome_batch_queue")),
    )
    op.create_index(
        "ix_outcome_batch_queue_god_name",
        "outcome_batch_queue",
        ["god_name", "outcome_id"],
        unique=False,
    )
    op.create_table(
        "outcomes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("outcome_key", sa.String(length=200), nullable=True),
        sa.Column("god_name", sa.String(length=120), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("phi", sa.Float(), nullable=True),
        sa.Column("kappa", sa.Float(), nullable=True),
        sa.Column("coherence_score", sa.Float(), nullable=True),
        sa.Column("basin", sa.LargeBinary(), nullable=False),
        sa.Column("reward", sa.Float(), nullable=False),
        sa.Column("source_type", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("trained_online_at", TS, nullable=True),
        sa.Column("batch_processed_at", TS, nullable=True),
        sa.Column("consolidated_at", TS, nullable=True),
        sa.CheckConstraint(
            "source_type IN ('chat', 'search', 'research', 'curriculum', 'replay')",
            name=op.f("ck_outcomes_source_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_index(
        "ix_outcomes_god_name_created_at", "outcomes", ["god_name", "created_at"], unique=False
    )
    op.create_index(
        "ix_outcomes_pending_online",
        "outcomes",
        ["god_name", "id"],
        unique=False,
        postgresql_where=sa.text("trained_online_at IS NULL"),
        sqlite_where=sa.text("trained_online_at IS NULL"),
    )
    op.create_index(
        "uq_outcomes_outcome_key",
        "outcomes",
        ["outcome_key"],
        unique=True,
        postgresql_where=sa.text("outcome_key IS NOT NULL"),
        sqlite_where=sa.text("outcome_key IS NOT NULL"),
    )
    op.create_table(
        "schedule_runs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("job", sa.String(length=80), nullable=False),
        sa.Column("slot", TS, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'success', 'failed', 'skipped')",
            name=op.f("ck_schedule_runs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_runs")),
        sa.UniqueConstraint("job", "slot", name=op.f("uq_schedule_runs_job_slot")),
    )
    op.create_index("ix_schedule_runs_started_at", "schedule_runs", ["started_at"], unique=False)
    op.create_table(
        "training_history",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kernel_name", sa.String(length=140), nullable=False),
        sa.Column("god_name", sa.String(length=120), nullable=False),
        sa.Column("timescale", sa.String(length=40), nullable=False),
        sa.Column("outcomes", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("reward", sa.Float(), nullable=True),
        sa.Column("phi_before", sa.Float(), nullable=True),
        sa.Column("phi_after", sa.Float(), nullable=True),
        sa.Column("step_count", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "timescale IN ('online', 'hourly_batch', 'nightly_consolidation', 'transfer', "
            "'restore')",
            name=op.f("ck_training_history_timescale"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_history")),
    )
    op.create_index(
        "ix_training_history_kernel_name_created_at",
        "training_history",
        ["kernel_name", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_training_history_kernel_name_created_at", table_name="training_history")
    op.drop_table("training_history")
    op.drop_index("ix_schedule_runs_started_at", table_name="schedule_runs")
    op.drop_table("schedule_runs")
    op.drop_index(
        "uq_outcomes_outcome_key",
        table_name="outcomes",
        postgresql_where=sa.text("outcome_key IS NOT NULL"),
        sqlite_where=sa.text("outcome_key IS NOT NULL"),
    )
    op.drop_index(
        "ix_outcomes_pending_online",
        table_name="outcomes",
        postgresql_where=sa.text("trained_online_at IS NULL"),
        sqlite_where=sa.text("trained_online_at IS NULL"),
    )
    op.drop_index("ix_outcomes_god_name_created_at", table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_index("ix_outcome_batch_queue_god_name", table_name="outcome_batch_queue")
    op.drop_table("outcome_batch_queue")
    op.drop_table("knowledge_transfers")
    op.drop_table("kernels")
    op.drop_index("ix_checkpoints_kernel_name_created_at", table_name="checkpoints")
    op.drop_table("checkpoints")
    op.drop_table("checkpoint_blobs")
