"""Retention: old outcomes and audit rows are deleted, so no table grows without bound.

Run by the nightly cleanup job (``TrainingService.cleanup_old_checkpoints``) with the
settings ``PANTHEON_OUTCOME_KEEP_DAYS`` and ``PANTHEON_HISTORY_KEEP_DAYS`` (0 keeps all).

An outcome goes once it is older than the cutoff *and* trained at the online and hourly
timescales (or quarantined): what it taught lives in the kernels and their checkpoints;
nightly consolidation looks at recent rows only. A row still untrained is never deleted,
so nothing is lost to retention. A decision that named a deleted outcome keeps its id
(no foreign key); joins simply no longer find the row.

Deletes go in chunks of ``PANTHEON_RETENTION_CHUNK`` rows, each its own transaction, oldest
first along the primary key, so locks stay short and the WAL comes in bounded bursts.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.store.db import Database
from pantheon.store.models import outcomes, schedule_runs, training_history

log = logging.getLogger(__name__)


def _done(cutoff: datetime) -> sa.ColumnElement[bool]:
    trained = sa.and_(
        outcomes.c.trained_online_at.is_not(None), outcomes.c.batch_processed_at.is_not(None)
    )
    return sa.and_(
        outcomes.c.created_at < cutoff,
        sa.or_(trained, outcomes.c.quarantined_at.is_not(None)),
    )


def delete_old_outcomes(session: Session, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest outcomes past ``cutoff`` and fully trained."""
    pick = sa.select(outcomes.c.id).where(_done(cutoff)).order_by(outcomes.c.id).limit(limit)
    ids = [int(i) for i in session.execute(pick).scalars()]
    if not ids:
        return 0
    session.execute(sa.delete(outcomes).where(outcomes.c.id.in_(ids)))
    return len(ids)


def _delete_chunked(
    database: Database, table: sa.Table, column: str, cutoff: datetime, limit: int
) -> int:
    total = 0
    while True:
        with database.session() as session:
            pick = sa.select(table.c.id).where(table.c[column] < cutoff)
            pick = pick.order_by(table.c.id).limit(limit)
            ids = [int(i) for i in session.execute(pick).scalars()]
            if ids:
                session.execute(sa.delete(table).where(table.c.id.in_(ids)))
        total += len(ids)
        if len(ids) < limit:
            return total


def expire(database: Database, settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Apply the retention settings; returns how many rows of each kind were deleted."""
    now = now or utcnow()
    chunk = settings.retention_chunk
    deleted = {"outcomes_deleted": 0, "history_deleted": 0, "schedule_runs_deleted": 0}
    if settings.outcome_keep_days:
        cutoff = now - timedelta(days=settings.outcome_keep_days)
        while True:
            with database.session() as session:
                gone = delete_old_outcomes(session, cutoff, chunk)
            deleted["outcomes_deleted"] += gone
            if gone < chunk:
                break
    if settings.history_keep_days:
        cutoff = now - timedelta(days=settings.history_keep_days)
        deleted["history_deleted"] = _delete_chunked(
            database, training_history, "created_at", cutoff, chunk
        )
        deleted["schedule_runs_deleted"] = _delete_chunked(
            database, schedule_runs, "started_at", cutoff, chunk
        )
    log.info(
        "retention: %d outcomes, %d history rows, %d schedule runs deleted",
        deleted["outcomes_deleted"],
        deleted["history_deleted"],
        deleted["schedule_runs_deleted"],
    )
    return deleted
