"""Decision rows: one INSERT per route, a one-time link to the outcome, retention.

Rows are read back as :class:`DecisionRow` (typed), never as ORM objects: the route's
INSERT is on the request path and the evaluation reads thousands of rows at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from pantheon.store.models import decisions, outcomes

_IN_CHUNK = 1000


@dataclass(frozen=True)
class DecisionRow:
    id: uuid.UUID
    created_at: datetime
    prompt_sha256: str
    basin: bytes
    coordizer_version: str | None
    candidates: list[str]
    scores: list[float]
    probabilities: list[float]
    predictions: list[dict[str, Any]]
    chosen_god: str
    propensity: float
    policy: str
    policy_params: dict[str, Any]
    kernel_versions: dict[str, int]
    outcome_id: int | None
    outcome_god: str | None
    override: bool | None
    linked_at: datetime | None


@dataclass(frozen=True)
class Link:
    decision_id: uuid.UUID
    outcome_id: int
    outcome_god: str
    override: bool
    linked_at: datetime


@dataclass(frozen=True)
class LoggedDecision:
    """A decision with its linked outcome (for off-policy evaluation)."""

    decision: DecisionRow
    reward: float
    success: bool


def _row(r: Any) -> DecisionRow:
    return DecisionRow(**{name: getattr(r, name) for name in DecisionRow.__dataclass_fields__})


def insert(session: Session, row: dict[str, Any]) -> None:
    """One INSERT in the caller's transaction (SQLite, tests)."""
    session.execute(sa.insert(decisions), [row])


def insert_autocommit(connection: sa.Connection, row: dict[str, Any]) -> None:
    """One statement, its own transaction (PostgreSQL, the request path): no BEGIN, no
    COMMIT round trip, and ``synchronous_commit`` off for this statement only
    (``set_config(..., true)`` is local to its transaction). The row is visible and
    survives any restart of the web process at once; only a crash of the database server
    itself within ~3 x ``wal_writer_delay`` (600 ms by default) could lose it."""
    connection.execute(_insert_statement(tuple(row)), row)


@lru_cache(maxsize=4)
def _insert_statement(names: tuple[str, ...]) -> sa.Insert:
    # Built once per column list and executed with the row as parameters: the statement
    # is not rebuilt and its compiled form is found at once in SQLAlchemy's cache.
    values = [sa.bindparam(n, type_=decisions.c[n].type) for n in names]
    local = sa.select(sa.func.set_config("synchronous_commit", "off", sa.true())).subquery()
    # ON CONFLICT DO NOTHING on the fixed id: a retry after a first attempt that did commit
    # (the connection dropped before its answer) finds the row there and writes nothing.
    stmt = pg_insert(decisions).from_select(list(names), sa.select(*values).select_from(local))
    return stmt.on_conflict_do_nothing(index_elements=[decisions.c.id])


def get(session: Session, decision_id: uuid.UUID) -> DecisionRow | None:
    r = session.execute(sa.select(decisions).where(decisions.c.id == decision_id)).first()
    return None if r is None else _row(r)


def lock_many(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, DecisionRow]:
    """The decisions among ``ids`` that exist, row-locked (PostgreSQL) until commit, so two
    outcomes naming one decision link it once; SQLite writers are serialised already."""
    out: dict[uuid.UUID, DecisionRow] = {}
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        stmt = sa.select(decisions).where(decisions.c.id.in_(chunk)).order_by(decisions.c.id)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        for r in session.execute(stmt):
            out[r.id] = _row(r)
    return out


def reusable_basin(decision: DecisionRow, prompt_sha256: str) -> tuple[bytes, str] | None:
    """(basin, coordizer version) an outcome linked to ``decision`` can be stored with, so
    whoever trains it need not encode its prompt again; None unless the decision recorded
    its basin's version and was routed for the same prompt (a chat app may post another
    prompt under a decision id). Whether the version is still the running one is the
    claim's to judge (``store.basins.needs_basin``), as for any stored basin."""
    if decision.coordizer_version is None or decision.prompt_sha256 != prompt_sha256:
        return None
    return decision.basin, decision.coordizer_version


def link(session: Session, links: Sequence[Link]) -> None:
    """Record each decision's outcome, only where none is linked yet."""
    for item in links:
        session.execute(
            sa.update(decisions)
            .where(decisions.c.id == item.decision_id, decisions.c.outcome_id.is_(None))
            .values(
                outcome_id=item.outcome_id,
                outcome_god=item.outcome_god,
                override=item.override,
                linked_at=item.linked_at,
            )
        )


def delete_older(session: Session, cutoff: datetime) -> int:
    result = session.execute(sa.delete(decisions).where(decisions.c.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def recent_basins(session: Session, limit: int) -> list[tuple[bytes, list[str]]]:
    """(basin, candidates) of the newest ``limit`` decisions."""
    rows = session.execute(
        sa.select(decisions.c.basin, decisions.c.candidates)
        .order_by(decisions.c.created_at.desc())
        .limit(limit)
    )
    return [(r.basin, list(r.candidates)) for r in rows]


def logged(session: Session, since: datetime | None, limit: int) -> list[LoggedDecision]:
    """The newest ``limit`` decisions with a linked outcome of the chosen god (overrides
    are left out: their propensity is unknown), oldest first."""
    stmt = (
        sa.select(decisions, outcomes.c.reward, outcomes.c.success)
        .join(outcomes, outcomes.c.id == decisions.c.outcome_id)
        .where(decisions.c.override.is_(False))
        .order_by(decisions.c.created_at.desc())
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(decisions.c.created_at >= since)
    rows = [
        LoggedDecision(decision=_row(r), reward=float(r.reward), success=bool(r.success))
        for r in session.execute(stmt)
    ]
    rows.reverse()
    return rows


def counts(session: Session) -> tuple[int, int, int]:
    """(decisions, linked, overrides)."""
    r = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(decisions.c.outcome_id),
            sa.func.count().filter(decisions.c.override.is_(True)),
        )
    ).one()
    return int(r[0]), int(r[1]), int(r[2])
