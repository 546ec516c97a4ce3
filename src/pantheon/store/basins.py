"""Basins computed where outcomes are trained, not where they are stored.

Intake stores an outcome's text with no basin (``basin`` and ``coordizer_version`` NULL),
so a request never waits on the encoder. Every claim hands its rows to
:func:`fill_claimed` before decoding them: rows whose basin is missing or was made by
another coordizer version get theirs from *one* ``Encoder.encode`` call over their
prompts, written back in the claim's own transaction, so the training step and the stored
basin agree and a later timescale finds the basin ready (each prompt encoded once).

The store knows no coordizer: the training layer passes an :class:`Encoder` (the running
coordizer's version and a prompts → basin blobs function).

A basin is stored as 64 little-endian float32 values (256 bytes, ``LargeBinary``), not
JSON: the hourly batch reads tens of thousands of rows per second, and decoding one
``bytes`` join with ``numpy.frombuffer`` is far cheaper than parsing JSON arrays.
float32 keeps ~7 significant digits, ample for simplex coordinates of prompts.

A claim checks each row it took (:func:`split_decodable`: a basin of 64 finite,
non-negative float32 values, a finite reward in [-1, 1]) and quarantines the bad ones
(:mod:`pantheon.store.quarantine`), so one corrupt row never fails, and so never blocks,
its god's training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from pantheon.store.models import LEGACY_COORDIZER_VERSION, outcome_batch_queue, outcomes

_CHUNK = 1000
BASIN_DIM = 64
BASIN_DTYPE = np.dtype("<f4")
BASIN_BYTES = BASIN_DIM * BASIN_DTYPE.itemsize


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
    return _stale_prompts(session, version, after_id, limit)


def _stale_prompts(
    session: Session,
    version: str,
    after_id: int,
    limit: int,
    *where: sa.ColumnElement[bool],
    key: sa.ColumnElement[int] = outcomes.c.id,
    source: sa.FromClause = outcomes,
) -> list[tuple[int, str]]:
    """(id, prompt) of up to ``limit`` healthy rows of ``source`` after ``after_id`` (by
    ``key``) whose basin is missing or of another version, narrowed by ``where``."""
    stmt = (
        sa.select(outcomes.c.id, outcomes.c.prompt)
        .select_from(source)
        .where(key > after_id, outcomes.c.quarantined_at.is_(None), _other_version(version))
        .where(*where)
        .order_by(key)
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
    encodes before it takes the kernel lock while a coordizer change is under way.

    It reads every queued row of the god (about 8 µs a row on PostgreSQL, as much as
    the hourly claim itself), so outside a change the batch asks :func:`unencoded_page`."""
    q = outcome_batch_queue
    joined = q.join(outcomes, outcomes.c.id == q.c.outcome_id)
    return _stale_prompts(
        session, version, after_id, limit, q.c.god_name == god, key=q.c.outcome_id, source=joined
    )


def unencoded_page(
    session: Session, god: str, version: str, after_id: int, limit: int
) -> list[tuple[int, str]]:
    """(id, prompt) of up to ``limit`` of the god's rows not yet trained online whose
    basin is missing or of another version, after ``after_id``.

    Online training stores the basin of every row it trains, at the running version, so
    outside a coordizer change only these rows can reach the hourly batch without a
    basin. The scan follows the partial index of rows pending online
    (``ix_outcomes_pending_online``): in the steady state it finds nothing at once, where
    :func:`pending_batch_page` reads the whole queue."""
    pending_online = outcomes.c.trained_online_at.is_(None)
    return _stale_prompts(
        session, version, after_id, limit, outcomes.c.god_name == god, pending_online
    )


# --- the stored format ---------------------------------------------------------------
def encode_basins(basins: NDArray[np.float64]) -> list[bytes]:
    """One 256-byte blob per row of an (n, 64) array."""
    arr = np.ascontiguousarray(basins, dtype=BASIN_DTYPE)
    if arr.ndim != 2 or arr.shape[1] != BASIN_DIM:
        raise ValueError(f"basins must have shape (n, {BASIN_DIM}), got {arr.shape}")
    raw = arr.tobytes()
    return [raw[i : i + BASIN_BYTES] for i in range(0, len(raw), BASIN_BYTES)]


def decode_basins(blobs: Sequence[bytes]) -> NDArray[np.float64]:
    """The (n, 64) float64 array of n stored basin blobs (one join, one frombuffer)."""
    if not blobs:
        return np.zeros((0, BASIN_DIM), dtype=np.float64)
    raw = b"".join(blobs)
    if len(raw) != len(blobs) * BASIN_BYTES:
        raise ValueError("a stored basin is not 64 float32 values")
    return np.frombuffer(raw, dtype=BASIN_DTYPE).reshape(-1, BASIN_DIM).astype(np.float64)


def _row_error(row: Any) -> str | None:
    """Why a claimed (id, basin, reward, success) row cannot be trained on, or None."""
    blob = row[1]
    if not isinstance(blob, bytes | bytearray | memoryview) or len(blob) != BASIN_BYTES:
        return "a stored basin is not 64 float32 values"
    try:
        reward = float(row[2])
        bool(row[3])
    except (TypeError, ValueError):
        return "a stored reward or success is not a number"
    if not np.isfinite(reward) or not -1.0 <= reward <= 1.0:
        return "a stored reward is not a finite number in [-1, 1]"
    basin = np.frombuffer(bytes(blob), dtype="<f4")
    if not np.isfinite(basin).all() or (basin < 0).any():
        return "a stored basin has non-finite or negative coordinates"
    return None


def split_decodable(rows: Sequence[Any]) -> tuple[list[Any], list[tuple[int, str]]]:
    """(rows that decode, [(id, reason)] of those that do not)."""
    good: list[Any] = []
    bad: list[tuple[int, str]] = []
    for row in rows:
        reason = _row_error(row)
        if reason is None:
            good.append(row)
        else:
            bad.append((int(row[0]), reason))
    return good, bad
