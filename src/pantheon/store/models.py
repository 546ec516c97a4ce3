"""The tables of the store of record (one metadata for PostgreSQL and SQLite).

Hot paths (intake, claims, batch training) use the ``Table`` objects with Core
statements; the ORM classes serve the low-volume paths and migrations' autogenerate check.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pantheon.clock import utcnow
from pantheon.store.db import BigId, JSONType, UTCDateTime

SOURCE_TYPES = ("chat", "search", "research", "curriculum", "replay")
KERNEL_KINDS = ("god", "shadow")
CHECKPOINT_TRIGGERS = (
    "outcome",
    "hourly_batch",
    "nightly_consolidation",
    "manual",
    "transfer",
    "restore",
)
RUN_STATUSES = ("running", "success", "failed", "skipped")
#: Width of the ``coordizer_version`` columns (a method name plus a digest).
COORDIZER_VERSION_LENGTH = 100
#: The coordizer version every basin and kernel stored before migration 0004 was made
#: with (the bundled ``vocab-svd64-1`` table of that time); the migration writes it on
#: existing kernel rows, and a checkpoint without a recorded version is taken to be it.
LEGACY_COORDIZER_VERSION = "vocab-svd64-1:e6a7437db45d"
TIMESCALES = ("online", "hourly_batch", "nightly_consolidation", "transfer", "restore")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class Outcome(Base):
    """One answered chat; one timestamp per timescale marks it trained there, once."""

    __tablename__ = "outcomes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: Client idempotency key: the same key twice is one outcome (partial unique index).
    outcome_key: Mapped[str | None] = mapped_column(sa.String(200))
    god_name: Mapped[str] = mapped_column(sa.String(120))
    prompt: Mapped[str] = mapped_column(sa.Text)
    response: Mapped[str] = mapped_column(sa.Text)
    success: Mapped[bool] = mapped_column(sa.Boolean)
    score: Mapped[float | None] = mapped_column(sa.Float)
    phi: Mapped[float | None] = mapped_column(sa.Float)
    kappa: Mapped[float | None] = mapped_column(sa.Float)
    coherence_score: Mapped[float | None] = mapped_column(sa.Float)
    #: 64 little-endian float32 (see ``pantheon.store.basins``), made by the coordizer named
    #: in ``coordizer_version``. NULL until the first claim that trains the row computes it:
    #: intake stores the text and never waits on the encoder (migration 0004).
    basin: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    #: ``COORDIZER_VERSION`` that made ``basin``; NULL: no basin, or one stored before
    #: versions were recorded. A basin of another version is recomputed before training.
    coordizer_version: Mapped[str | None] = mapped_column(sa.String(COORDIZER_VERSION_LENGTH))
    reward: Mapped[float] = mapped_column(sa.Float)
    source_type: Mapped[str] = mapped_column(sa.String(20), default="chat")
    source_id: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    trained_online_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    batch_processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consolidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set (with ``error``) by the claim that found the row undecodable: every claim, the
    #: outbox sweep and consolidation skip it from then on (migration 0002).
    quarantined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.CheckConstraint(_in("source_type", SOURCE_TYPES), name="source_type"),
        # Only keyed rows are indexed: a row version written by a claim skips this index.
        sa.Index(
            "uq_outcomes_outcome_key",
            "outcome_key",
            unique=True,
            postgresql_where=sa.text("outcome_key IS NOT NULL"),
            sqlite_where=sa.text("outcome_key IS NOT NULL"),
        ),
        # The online claim scans only the god's pending rows; a marked row leaves the index.
        sa.Index(
            "ix_outcomes_pending_online",
            "god_name",
            "id",
            postgresql_where=sa.text("trained_online_at IS NULL"),
            sqlite_where=sa.text("trained_online_at IS NULL"),
        ),
        # The outbox sweep's oldest untrained rows across gods (``ORDER BY id LIMIT n``):
        # without it PostgreSQL walks the primary key over every trained row (migration 0005).
        sa.Index(
            "ix_outcomes_untrained",
            "id",
            postgresql_where=sa.text("trained_online_at IS NULL AND quarantined_at IS NULL"),
            sqlite_where=sa.text("trained_online_at IS NULL AND quarantined_at IS NULL"),
        ),
        sa.Index("ix_outcomes_god_name_created_at", "god_name", "created_at"),
        # No index mentions batch_processed_at, and pages keep free space, so marking a
        # batch is a HOT update on PostgreSQL (no index writes); pending batch rows are
        # found through ``outcome_batch_queue`` instead.
        {"postgresql_with": {"fillfactor": 70}},
    )


class OutcomeBatchQueue(Base):
    """Outcomes not yet batch-processed (one narrow row each, deleted by the claim).

    Invariant: a row is here exactly while its outcome's ``batch_processed_at`` is NULL;
    intake inserts it and the hourly claim deletes it, each in the same transaction as the
    outcome change. Deleting a 2-column row costs a fraction of updating an indexed one.
    """

    __tablename__ = "outcome_batch_queue"
    #: No foreign key: it would add a trigger check to every outcome update.
    outcome_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    god_name: Mapped[str] = mapped_column(sa.String(120))

    __table_args__ = (sa.Index("ix_outcome_batch_queue_god_name", "god_name", "outcome_id"),)


class KernelRow(Base):
    """A kernel's live state (checkpoint bytes) and its version counter (row-locked)."""

    __tablename__ = "kernels"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(140), unique=True)
    god_name: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[str] = mapped_column(sa.String(10))
    state: Mapped[bytes] = mapped_column(sa.LargeBinary)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    step_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: Outcomes learned online (the API's ``outcomes_trained``).
    outcomes_trained: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    retired: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: ``COORDIZER_VERSION`` of the basins the live state was trained on (migration 0004).
    #: Another version than the running coordizer's: the kernel is *stale*, neither trained
    #: nor routed with until ``pantheon db recoordize`` rebuilds it.
    coordizer_version: Mapped[str | None] = mapped_column(sa.String(COORDIZER_VERSION_LENGTH))

    __table_args__ = (sa.CheckConstraint(_in("kind", KERNEL_KINDS), name="kind"),)


class CheckpointRow(Base):
    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kernel_name: Mapped[str] = mapped_column(sa.String(140))
    god_name: Mapped[str] = mapped_column(sa.String(120))
    kernel_version: Mapped[int] = mapped_column(sa.Integer)
    step_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    trigger: Mapped[str] = mapped_column(sa.String(40))
    uri: Mapped[str] = mapped_column(sa.String(500), unique=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    pinned: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(_in("trigger", CHECKPOINT_TRIGGERS), name="trigger"),
        sa.Index("ix_checkpoints_kernel_name_created_at", "kernel_name", "created_at"),
    )


class CheckpointBlob(Base):
    """Checkpoint bytes for the database checkpoint store (``db://<id>``)."""

    __tablename__ = "checkpoint_blobs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleRun(Base):
    """One scheduled job's run for one slot; unique (job, slot) makes a slot run once."""

    __tablename__ = "schedule_runs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(sa.String(80))
    slot: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(20), default="running")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.UniqueConstraint("job", "slot"),
        sa.CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        sa.Index("ix_schedule_runs_started_at", "started_at"),
    )


class KnowledgeTransfer(Base):
    """Audit row of one knowledge transfer."""

    __tablename__ = "knowledge_transfers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transfer_type: Mapped[str] = mapped_column(sa.String(40))
    source_name: Mapped[str] = mapped_column(sa.String(140))
    target_name: Mapped[str] = mapped_column(sa.String(140))
    blend_ratio: Mapped[float] = mapped_column(sa.Float)
    phi_before: Mapped[float | None] = mapped_column(sa.Float)
    phi_after: Mapped[float | None] = mapped_column(sa.Float)
    source_retired: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainingHistory(Base):
    """Audit row of every training step batch: what, when, how much, result."""

    __tablename__ = "training_history"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kernel_name: Mapped[str] = mapped_column(sa.String(140))
    god_name: Mapped[str] = mapped_column(sa.String(120))
    timescale: Mapped[str] = mapped_column(sa.String(40))
    outcomes: Mapped[int] = mapped_column(sa.Integer, default=0)
    steps: Mapped[int] = mapped_column(sa.Integer, default=0)
    loss: Mapped[float | None] = mapped_column(sa.Float)
    reward: Mapped[float | None] = mapped_column(sa.Float)
    phi_before: Mapped[float | None] = mapped_column(sa.Float)
    phi_after: Mapped[float | None] = mapped_column(sa.Float)
    step_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    version: Mapped[int] = mapped_column(sa.Integer, default=0)
    duration_ms: Mapped[float | None] = mapped_column(sa.Float)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(_in("timescale", TIMESCALES), name="timescale"),
        sa.Index("ix_training_history_kernel_name_created_at", "kernel_name", "created_at"),
    )


class Decision(Base):
    """One routing decision: what was chosen, with which probability, from what.

    The prompt's text is not kept (prompts are user data): its basin (what every kernel
    saw) and a sha256 of it are, which is all evaluation and audit need. One INSERT per
    route; the link columns are set once, by the first outcome that names the decision.
    """

    __tablename__ = "decisions"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    prompt_sha256: Mapped[str] = mapped_column(sa.String(64))
    #: 64 little-endian float32, like ``outcomes.basin``.
    basin: Mapped[bytes] = mapped_column(sa.LargeBinary)
    #: ``COORDIZER_VERSION`` that made ``basin`` (NULL before revision 0006: unknown, so
    #: the basin is never reused for the linked outcome).
    coordizer_version: Mapped[str | None] = mapped_column(sa.String(COORDIZER_VERSION_LENGTH))
    #: Candidate gods in score order (best first), with their scores and probabilities.
    candidates: Mapped[list[str]] = mapped_column(JSONType)
    scores: Mapped[list[float]] = mapped_column(JSONType)
    probabilities: Mapped[list[float]] = mapped_column(JSONType)
    #: Each candidate's predicted success and cost, as routed.
    predictions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    chosen_god: Mapped[str] = mapped_column(sa.String(120))
    propensity: Mapped[float] = mapped_column(sa.Float)
    policy: Mapped[str] = mapped_column(sa.String(20))
    policy_params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    kernel_versions: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    outcome_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    outcome_god: Mapped[str | None] = mapped_column(sa.String(120))
    #: The outcome came from another god than the chosen one (the chat app overrode it).
    override: Mapped[bool | None] = mapped_column(sa.Boolean)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_decisions_created_at", "created_at"),)


outcomes = cast(sa.Table, Outcome.__table__)
outcome_batch_queue = cast(sa.Table, OutcomeBatchQueue.__table__)
kernels = cast(sa.Table, KernelRow.__table__)
checkpoints = cast(sa.Table, CheckpointRow.__table__)
checkpoint_blobs = cast(sa.Table, CheckpointBlob.__table__)
schedule_runs = cast(sa.Table, ScheduleRun.__table__)
knowledge_transfers = cast(sa.Table, KnowledgeTransfer.__table__)
training_history = cast(sa.Table, TrainingHistory.__table__)
decisions = cast(sa.Table, Decision.__table__)
