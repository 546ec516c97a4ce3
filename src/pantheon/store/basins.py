"""Basins computed where outcomes are trained, not where they are stored.

Intake stores an outcome's text with no basin (``basin`` and ``coordizer_version`` NULL),
so a request never waits on the encoder. Every claim hands its rows to
:func:`fill_claimed` before decoding them: rows whose basin is missing or was made by
another coordizer version get theirs from *one* ``Encoder.encode`` call over their
prompts, written back in the claim's own transaction, so the training step and the stored
basin agree and a later timescale finds the basin ready (each prompt encoded once).

The store knows no coordizer: the training layer passes an :class:`Encoder` (the running
coordizer's version and a prompts → basin blobs function).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pantheon.store.models import LEGACY_COORDIZER_VERSION, outcome_batch_queue, outcomes

_CHUNK = 1000


@dataclass(frozen=True)
class Encoder:
    """The running coordizer as the store sees it."""

    #: ``COORDIZER_VERSION`` of the basins ``encode`` makes.
    version: str
    #: Prompts → one 256-byte basin blob each, in order (one batch per call).
    encode: Callable[[Sequence[str]], list[bytes]]


def needs_basin(row: Any, version: str) -> bool:
    """Whether a claimed ``(id, basin, reward, success, coordizer_version)`` row must be
    (re-)encoded before training (a basin without a recorded version predates revision
    0004: the legacy coordizer made it)."""
    return row[1] is None or (row[4] or LEGACY_COORDIZER_VERSION) != version


def _other_version(version: str) -> sa.ColumnElement[bool]:
    made_by = sa.func.coalesce(outcomes.c.coordizer_version, LEGACY_COORDIZER_VERSION)
    return sa.or_(outcomes.c.basin.is_(None), made_by != version)


def prompts_of(session: Session, ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for i in range(0, len(ids), _CHUNK):
        part = [int(x) for x in ids[i : i + _CHUNK]]
        stmt = sa.select(outcomes.c.id, outcomes.c.prompt).where(outcomes.c.id.in_(part))
        found.update({int(oid): str(p) for oid, p in session.execute(stmt)})
    return found


def write_basins(session: Session, basins: dict[int, bytes], version: str) -> None:
    """Store computed basins with their version (one executemany)."""
    if not basins:
        return
    stmt = (
        sa.update(outcomes)
        .where(outcomes.c.id == sa.bindparam("oid"))
        .values(basin=sa.bindparam("b"), coordizer_version=version)
    )
    params = [{"oid": oid, "b": blob} for oid, blob in basins.items()]
    session.connection().execute(stmt, params)


def fill_claimed(session: Session, rows: Sequence[Any], encoder: Encoder | None) -> list[Any]:
    """The claimed rows with every missing or outdated basin computed and stored.

    Rows are ``(id, basin, reward, success, coordizer_version)``; the returned rows keep
    that shape. Without an encoder the rows come back as they are; a row without a basin
    then raises, so it is never quarantined for want of an encoder.
    """
    if encoder is None:
        if any(r[1] is None for r in rows):
            raise ValueError("claimed rows without a basin need an encoder")
        return list(rows)
    todo = [int(r[0]) for r in rows if needs_basin(r, encoder.version)]
    if not todo:
        return list(rows)
    prompts = prompts_of(session, todo)
    ids = [oid for oid in todo if oid in prompts]
    blobs = encoder.encode([prompts[oid] for oid in ids]) if ids else []
    made = dict(zip(ids, blobs, strict=True))
    write_basins(session, made, encoder.version)
    out: list[Any] = []
    for r in rows:
        blob = made.get(int(r[0]))
        out.append(r if blob is None else (r[0], blob, r[2], r[3], encoder.version))
    return out


def stale_page(session: Session, version: str, after_id: int, limit: int) -> list[tuple[int, str]]:
    """(id, prompt) of up to ``limit`` healthy rows after ``after_id`` (by id) whose basin
    is missing or of another version: a keyset page for ``pantheon db recoordize``."""
    stmt = (
        sa.select(outcomes.c.id, outcomes.c.prompt)
        .where(
            outcomes.c.id > after_id,
            outcomes.c.quarantined_at.is_(None),
            _other_version(version),
        )
        .order_by(outcomes.c.id)
        .limit(limit)
    )
    return [(int(i), str(p)) for i, p in session.execute(stmt)]


def write_if_stale(session: Session, basins: dict[int, bytes], version: str) -> int:
    """Store basins computed outside the transaction, skipping rows a claim updated to
    ``version`` meanwhile; returns how many rows were written."""
    if not basins:
        return 0
    stmt = (
        sa.update(outcomes)
        .where(outcomes.c.id == sa.bindparam("oid"), _other_version(version))
        .values(basin=sa.bindparam("b"), coordizer_version=version)
    )
    params = [{"oid": oid, "b": blob} for oid, blob in basins.items()]
    result = session.connection().execute(stmt, params)
    return int(result.rowcount or 0)


def count_stale(session: Session, version: str) -> dict[str, int]:
    """Healthy outcomes without a basin, and with a basin of another version."""
    healthy = outcomes.c.quarantined_at.is_(None)
    missing = sa.func.count(sa.case((outcomes.c.basin.is_(None), 1)))
    other = sa.func.count(
        sa.case((sa.and_(outcomes.c.basin.is_not(None), _other_version(version)), 1))
    )
    row = session.execute(sa.select(missing, other).where(healthy)).one()
    return {"missing": int(row[0]), "other_version": int(row[1])}


def trained_page(
    session: Session, god: str, *, shadow: bool, after_id: int, limit: int
) -> list[Any]:
    """``(id, basin, reward, success, coordizer_version)`` of up to ``limit`` healthy
    outcomes of ``god`` after ``after_id`` that its kernel has already learned: batch-
    processed ones for a shadow (it learns only in the hourly batch), batch-processed or
    trained online ones for the god. The rows a rebuild retrains a kernel on."""
    learned = (
        outcomes.c.batch_processed_at.is_not(None)
        if shadow
        else sa.or_(
            outcomes.c.batch_processed_at.is_not(None), outcomes.c.trained_online_at.is_not(None)
        )
    )
    stmt = (
        sa.select(
            outcomes.c.id,
            outcomes.c.basin,
            outcomes.c.reward,
            outcomes.c.success,
            outcomes.c.coordizer_version,
        )
        .where(
            outcomes.c.god_name == god,
            outcomes.c.id > after_id,
            outcomes.c.quarantined_at.is_(None),
            learned,
        )
        .order_by(outcomes.c.id)
        .limit(limit)
    )
    return list(session.execute(stmt).all())


def pending_batch_page(
    session: Session, god: str, version: str, after_id: int, limit: int
) -> list[tuple[int, str]]:
    """(id, prompt) of up to ``limit`` of the god's rows waiting for the hourly batch
    whose basin is missing or of another version, after ``after_id``: what the batch
    encodes before it takes the kernel lock."""
    q = outcome_batch_queue
    stmt = (
        sa.select(outcomes.c.id, outcomes.c.prompt)
        .select_from(q.join(outcomes, outcomes.c.id == q.c.outcome_id))
        .where(
            q.c.god_name == god,
            q.c.outcome_id > after_id,
            outcomes.c.quarantined_at.is_(None),
            _other_version(version),
        )
        .order_by(q.c.outcome_id)
        .limit(limit)
    )
    return [(int(i), str(p)) for i, p in session.execute(stmt)]
