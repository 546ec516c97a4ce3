"""Audit rows: one ``training_history`` row per training step batch and one
``knowledge_transfers`` row per transfer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pantheon.clock import utcnow
from pantheon.store.models import knowledge_transfers, training_history


class HistoryRecord(TypedDict):
    """One ``training_history`` row (a test checks the keys against the table)."""

    id: int
    kernel_name: str
    god_name: str
    timescale: str
    outcomes: int
    steps: int
    loss: float | None
    reward: float | None
    phi_before: float | None
    phi_after: float | None
    step_count: int
    version: int
    duration_ms: float | None
    details: dict[str, Any]
    created_at: datetime


class TrendPoint(TypedDict):
    """One point of a kernel's recent loss/reward trend."""

    loss: float | None
    reward: float | None
    timescale: str
    at: datetime


class TransferRecord(TypedDict):
    """One ``knowledge_transfers`` row (a test checks the keys against the table)."""

    id: int
    transfer_type: str
    source_name: str
    target_name: str
    blend_ratio: float
    phi_before: float | None
    phi_after: float | None
    source_retired: bool
    params: dict[str, Any]
    report: dict[str, Any]
    created_at: datetime


def record_training(
    session: Session,
    *,
    kernel_name: str,
    god_name: str,
    timescale: str,
    outcomes: int,
    steps: int,
    loss: float | None,
    reward: float | None,
    step_count: int,
    version: int,
    phi_before: float | None = None,
    phi_after: float | None = None,
    duration_ms: float | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.execute(
        sa.insert(training_history).values(
            kernel_name=kernel_name,
            god_name=god_name,
            timescale=timescale,
            outcomes=outcomes,
            steps=steps,
            loss=loss,
            reward=reward,
            phi_before=phi_before,
            phi_after=phi_after,
            step_count=step_count,
            version=version,
            duration_ms=duration_ms,
            details=details or {},
            created_at=utcnow(),
        )
    )


def record_transfer(
    session: Session,
    *,
    transfer_type: str,
    source_name: str,
    target_name: str,
    blend_ratio: float,
    phi_before: float | None,
    phi_after: float | None,
    source_retired: bool,
    params: dict[str, Any],
    report: dict[str, Any],
) -> int:
    result = session.execute(
        sa.insert(knowledge_transfers)
        .values(
            transfer_type=transfer_type,
            source_name=source_name,
            target_name=target_name,
            blend_ratio=blend_ratio,
            phi_before=phi_before,
            phi_after=phi_after,
            source_retired=source_retired,
            params=params,
            report=report,
            created_at=utcnow(),
        )
        .returning(knowledge_transfers.c.id)
    )
    return int(result.scalar_one())


def history(
    session: Session,
    *,
    kernel_name: str | None = None,
    timescale: str | None = None,
    since: datetime | None = None,
    limit: int = 500,
) -> list[HistoryRecord]:
    """Training history rows, oldest first (the last ``limit`` of them), for plots."""
    t = training_history
    stmt = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    if kernel_name is not None:
        stmt = stmt.where(t.c.kernel_name == kernel_name)
    if timescale is not None:
        stmt = stmt.where(t.c.timescale == timescale)
    if since is not None:
        stmt = stmt.where(t.c.created_at >= since)
    rows = [cast(HistoryRecord, dict(r._mapping)) for r in session.execute(stmt)]
    rows.reverse()
    return rows


def trends(session: Session, per_kernel: int = 20) -> dict[str, list[TrendPoint]]:
    """The last ``per_kernel`` history rows of every kernel (one windowed query)."""
    t = training_history
    rn = sa.func.row_number().over(partition_by=t.c.kernel_name, order_by=t.c.id.desc())
    inner = sa.select(
        t.c.kernel_name, t.c.id, t.c.loss, t.c.reward, t.c.timescale, t.c.created_at, rn.label("rn")
    ).subquery()
    stmt = (
        sa.select(
            inner.c.kernel_name, inner.c.loss, inner.c.reward, inner.c.timescale, inner.c.created_at
        )
        .where(inner.c.rn <= per_kernel)
        .order_by(inner.c.kernel_name, inner.c.id)
    )
    out: dict[str, list[TrendPoint]] = {}
    for name, loss, reward, timescale, created_at in session.execute(stmt):
        out.setdefault(name, []).append(
            {"loss": loss, "reward": reward, "timescale": timescale, "at": created_at}
        )
    return out


def transfers(session: Session, limit: int = 100) -> list[TransferRecord]:
    t = knowledge_transfers
    stmt = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    return [cast(TransferRecord, dict(r._mapping)) for r in session.execute(stmt)]
