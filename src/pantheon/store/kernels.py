"""Kernel rows: the live state of each kernel, its version counter and its lock; and their
audit, one ``training_history`` row per training step batch and one ``knowledge_transfers``
row per transfer.

Writers of one kernel serialise on its row: ``SELECT ... FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` (the database write lock) on SQLite. Saves also check the version
they read (``UPDATE ... WHERE version = :read``), so a writer that skipped the lock
fails with :class:`~pantheon.errors.ConflictError` instead of overwriting an update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pantheon.clock import utcnow
from pantheon.errors import ConflictError
from pantheon.store.models import kernels, knowledge_transfers, training_history

_INFO_COLUMNS = (
    kernels.c.name,
    kernels.c.god_name,
    kernels.c.kind,
    kernels.c.version,
    kernels.c.step_count,
    kernels.c.outcomes_trained,
    kernels.c.metrics,
    kernels.c.retired,
    kernels.c.created_at,
    kernels.c.updated_at,
    kernels.c.coordizer_version,
)


@dataclass
class KernelRecord:
    name: str
    god_name: str
    kind: str
    version: int
    step_count: int
    outcomes_trained: int
    metrics: dict[str, Any]
    retired: bool
    created_at: datetime
    updated_at: datetime
    state: bytes = field(default=b"", repr=False)
    #: The coordizer version the state was trained on (``kernels.coordizer_version``).
    coordizer_version: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> KernelRecord:
        m = row._mapping
        return cls(
            name=m["name"],
            god_name=m["god_name"],
            kind=m["kind"],
            version=int(m["version"]),
            step_count=int(m["step_count"]),
            outcomes_trained=int(m["outcomes_trained"]),
            metrics=dict(m["metrics"] or {}),
            retired=bool(m["retired"]),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            state=bytes(m["state"]) if "state" in m else b"",
            coordizer_version=m.get("coordizer_version"),
        )


def lock(session: Session, name: str) -> KernelRecord | None:
    """The kernel row with its state, locked until the transaction ends."""
    row = session.execute(
        sa.select(*_INFO_COLUMNS, kernels.c.state).where(kernels.c.name == name).with_for_update()
    ).one_or_none()
    return None if row is None else KernelRecord.from_row(row)


def read(session: Session, name: str, *, with_state: bool = True) -> KernelRecord | None:
    cols = (*_INFO_COLUMNS, kernels.c.state) if with_state else _INFO_COLUMNS
    row = session.execute(sa.select(*cols).where(kernels.c.name == name)).one_or_none()
    return None if row is None else KernelRecord.from_row(row)


def read_many(session: Session, names: Sequence[str]) -> dict[str, KernelRecord]:
    stmt = sa.select(*_INFO_COLUMNS, kernels.c.state).where(kernels.c.name.in_(list(names)))
    return {r.name: KernelRecord.from_row(r) for r in session.execute(stmt)}


def list_all(session: Session) -> list[KernelRecord]:
    stmt = sa.select(*_INFO_COLUMNS).order_by(kernels.c.name)
    return [KernelRecord.from_row(r) for r in session.execute(stmt)]


def versions(session: Session) -> dict[str, int]:
    """Every kernel's version in one cheap query (the routing cache's freshness check)."""
    stmt = sa.select(kernels.c.name, kernels.c.version)
    return {str(n): int(v) for n, v in session.execute(stmt)}


def version_map(session: Session) -> dict[str, tuple[int, bool]]:
    """Every kernel's (version, retired) in one query."""
    stmt = sa.select(kernels.c.name, kernels.c.version, kernels.c.retired)
    return {str(n): (int(v), bool(r)) for n, v, r in session.execute(stmt)}


def insert_if_absent(
    session: Session,
    *,
    name: str,
    god_name: str,
    kind: str,
    state: bytes,
    step_count: int,
    coordizer_version: str,
    metrics: dict[str, Any] | None = None,
) -> bool:
    """Create the kernel row unless another writer did; True when this call created it."""
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    stmt = (
        ins(kernels)
        .values(
            name=name,
            god_name=god_name,
            kind=kind,
            state=state,
            version=1,
            step_count=step_count,
            outcomes_trained=0,
            metrics=metrics or {},
            retired=False,
            created_at=now,
            updated_at=now,
            coordizer_version=coordizer_version,
        )
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(kernels.c.id)
    )
    return session.execute(stmt).first() is not None


def save_state(
    session: Session,
    name: str,
    *,
    read_version: int,
    state: bytes,
    step_count: int,
    coordizer_version: str,
    outcomes_trained_delta: int = 0,
    metrics: dict[str, Any] | None = None,
    retired: bool | None = None,
) -> int:
    """Write a new live state as version ``read_version + 1``; returns the new version.

    ``coordizer_version``: the version of the basins that state was trained on."""
    values: dict[str, Any] = {
        "state": state,
        "coordizer_version": coordizer_version,
        "version": read_version + 1,
        "step_count": step_count,
        "outcomes_trained": kernels.c.outcomes_trained + outcomes_trained_delta,
        "updated_at": utcnow(),
    }
    if metrics is not None:
        values["metrics"] = metrics
    if retired is not None:
        values["retired"] = retired
    result = session.execute(
        sa.update(kernels)
        .where(kernels.c.name == name, kernels.c.version == read_version)
        .values(values)
    )
    if int(result.rowcount or 0) != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            f"kernel {name!r} changed since version {read_version} was read",
            kernel=name,
            version=read_version,
        )
    return read_version + 1


# --- audit rows --------------------------------------------------------------------
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
