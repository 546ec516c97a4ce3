"""Quarantine of stored outcomes that cannot become training examples.

A claim checks each row it took (``split_decodable``) and quarantines the bad ones in its
own transaction, so one corrupt row never fails, and so never blocks, its god's training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pantheon.clock import utcnow
from pantheon.store.models import outcomes
from pantheon.store.types import BASIN_BYTES


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


def quarantine(session: Session, bad: Sequence[tuple[int, str]], column: str | None = None) -> None:
    """Mark rows undecodable (first reason kept); ``column``'s claim mark is undone, since
    the row was not trained at that timescale."""
    when = utcnow()
    for oid, reason in bad:
        values: dict[str, Any] = {
            "quarantined_at": sa.func.coalesce(outcomes.c.quarantined_at, when),
            "error": sa.func.coalesce(outcomes.c.error, reason),
        }
        if column is not None:
            values[column] = None
        session.execute(sa.update(outcomes).where(outcomes.c.id == oid).values(values))
