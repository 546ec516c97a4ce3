"""Checkpoint rows: what was snapshotted, where its blob is, and retention queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pantheon.clock import utcnow
from pantheon.store.db import names_a_row
from pantheon.store.models import checkpoints


class CheckpointRecord(TypedDict):
    """One ``checkpoints`` row as the store hands it out (a test checks the keys)."""

    id: int
    kernel_name: str
    god_name: str
    kernel_version: int
    step_count: int
    trigger: str
    uri: str
    sha256: str
    size_bytes: int
    metrics: dict[str, Any]
    pinned: bool
    created_at: datetime


class RetentionVictim(TypedDict):
    """A checkpoint the retention rule deletes."""

    id: int
    kernel_name: str
    uri: str
    pinned: bool
    created_at: datetime


def insert(
    session: Session,
    *,
    kernel_name: str,
    god_name: str,
    kernel_version: int,
    step_count: int,
    trigger: str,
    uri: str,
    sha256: str,
    size_bytes: int,
    metrics: dict[str, Any] | None = None,
    pinned: bool = False,
) -> int:
    stmt = (
        sa.insert(checkpoints)
        .values(
            kernel_name=kernel_name,
            god_name=god_name,
            kernel_version=kernel_version,
            step_count=step_count,
            trigger=trigger,
            uri=uri,
            sha256=sha256,
            size_bytes=size_bytes,
            metrics=metrics or {},
            pinned=pinned,
            created_at=utcnow(),
        )
        .returning(checkpoints.c.id)
    )
    return int(session.execute(stmt).scalar_one())


def get(session: Session, checkpoint_id: int) -> CheckpointRecord | None:
    if not names_a_row(checkpoint_id):
        return None
    row = session.execute(
        sa.select(checkpoints).where(checkpoints.c.id == checkpoint_id)
    ).one_or_none()
    return None if row is None else cast(CheckpointRecord, dict(row._mapping))


def newest(session: Session, kernel_name: str, limit: int = 20) -> list[CheckpointRecord]:
    stmt = (
        sa.select(checkpoints)
        .where(checkpoints.c.kernel_name == kernel_name)
        .order_by(checkpoints.c.created_at.desc(), checkpoints.c.id.desc())
        .limit(limit)
    )
    return [cast(CheckpointRecord, dict(r._mapping)) for r in session.execute(stmt)]


def list_rows(
    session: Session, god_name: str | None = None, limit: int = 500
) -> list[CheckpointRecord]:
    """Newest first; ``god_name`` matches the god's and its shadow's checkpoints."""
    stmt = sa.select(checkpoints).order_by(checkpoints.c.id.desc()).limit(limit)
    if god_name is not None:
        stmt = stmt.where(checkpoints.c.god_name == god_name)
    return [cast(CheckpointRecord, dict(r._mapping)) for r in session.execute(stmt)]


def counts_by_kernel(session: Session) -> dict[str, int]:
    stmt = sa.select(checkpoints.c.kernel_name, sa.func.count()).group_by(checkpoints.c.kernel_name)
    return {str(n): int(c) for n, c in session.execute(stmt)}


def retention_victims(
    session: Session, keep: int, younger_than: datetime
) -> tuple[list[RetentionVictim], int]:
    """(rows to delete, rows kept): keep each kernel's newest ``keep``, every pinned
    one and every one created after ``younger_than``."""
    stmt = sa.select(
        checkpoints.c.id,
        checkpoints.c.kernel_name,
        checkpoints.c.uri,
        checkpoints.c.pinned,
        checkpoints.c.created_at,
    ).order_by(checkpoints.c.kernel_name, checkpoints.c.created_at.desc(), checkpoints.c.id.desc())
    victims: list[RetentionVictim] = []
    kept = 0
    rank: dict[str, int] = {}
    for row in session.execute(stmt):
        n = rank[row.kernel_name] = rank.get(row.kernel_name, 0) + 1
        if n <= keep or row.pinned or row.created_at > younger_than:
            kept += 1
        else:
            victims.append(cast(RetentionVictim, dict(row._mapping)))
    return victims, kept


def delete_ids(session: Session, ids: Sequence[int]) -> int:
    if not ids:
        return 0
    result = session.execute(sa.delete(checkpoints).where(checkpoints.c.id.in_(list(ids))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def referenced_uris(session: Session) -> set[str]:
    return {str(u) for u in session.execute(sa.select(checkpoints.c.uri)).scalars()}
