"""Read-only figures over outcome rows: counts for metrics, recent prompts for warm-up."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pantheon.store.models import outcomes

#: ``recent_prompts`` looks at this many newest rows per prompt wanted.
RECENT_WINDOW = 50


def _healthy() -> sa.ColumnElement[bool]:
    return outcomes.c.quarantined_at.is_(None)


def recent_prompts(session: Session, limit: int) -> list[str]:
    """Distinct prompts of the newest outcomes, newest first.

    Only the newest ``RECENT_WINDOW * limit`` rows are looked at (a primary-key scan
    backwards), so the cost does not grow with the table; a burst of repeats of one
    prompt can make the answer shorter than ``limit``.
    """
    window = (
        sa.select(outcomes.c.id, outcomes.c.prompt)
        .where(_healthy())
        .order_by(outcomes.c.id.desc())
        .limit(RECENT_WINDOW * limit)
        .subquery()
    )
    stmt = (
        sa.select(window.c.prompt)
        .group_by(window.c.prompt)
        .order_by(sa.func.max(window.c.id).desc())
        .limit(limit)
    )
    return [str(p) for p in session.execute(stmt).scalars()]


def counts(session: Session) -> dict[str, int]:
    """Outcomes stored, trained per timescale and quarantined (for metrics).

    Pending counts leave quarantined rows out: nothing will ever train them.
    """
    stmt = sa.select(
        sa.func.count(),
        sa.func.count(outcomes.c.trained_online_at),
        sa.func.count(outcomes.c.batch_processed_at),
        sa.func.count(outcomes.c.consolidated_at),
        sa.func.count(outcomes.c.quarantined_at),
        sa.func.count(sa.case((_healthy(), None), else_=outcomes.c.trained_online_at)),
        sa.func.count(sa.case((_healthy(), None), else_=outcomes.c.batch_processed_at)),
    )
    total, online, batch, consolidated, bad, bad_online, bad_batch = session.execute(stmt).one()
    return {
        "outcomes": int(total),
        "trained_online": int(online),
        "batch_processed": int(batch),
        "consolidated": int(consolidated),
        "quarantined": int(bad),
        "pending_online": int(total) - int(online) - int(bad) + int(bad_online),
        "pending_batch": int(total) - int(batch) - int(bad) + int(bad_batch),
    }
