"""Quarantine of stored outcomes that cannot become training examples.

A claim checks each row it took (:func:`pantheon.store.basins.split_decodable`) and
quarantines the bad ones in its own transaction, so one corrupt row never fails, and so
never blocks, its god's training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pantheon.clock import utcnow
from pantheon.store.models import outcomes


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
