"""Outcomes linked to routing decisions are stored once and trained exactly once,
on SQLite and PostgreSQL, also when two callers report one decision at the same time."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from pantheon.store.models import decisions as decision_table
from pantheon.store.models import outcomes, training_history
from pantheon.training import decisions
from pantheon.training.intake import OutcomeIn, ingest
from pantheon.training.service import TrainingService

pytestmark = pytest.mark.integration

N = 24


def _route_all(svc: TrainingService) -> list[decisions.RouteDecision]:
    return [
        decisions.route(svc, f"question {i} about the sea", candidates=["poseidon", "zeus"])
        for i in range(N)
    ]


def _report(d: decisions.RouteDecision, i: int, key: str | None = None) -> OutcomeIn:
    return OutcomeIn(
        god_name=d.god_name,
        prompt=f"question {i} about the sea",
        response="an answer",
        success=i % 3 != 0,
        decision_id=d.decision_id,
        outcome_key=key,
    )


def test_linked_outcomes_are_trained_exactly_once(svc: TrainingService) -> None:
    routed = _route_all(svc)
    errors: list[BaseException] = []

    def post(tag: str) -> None:
        try:
            for i, d in enumerate(routed):  # each caller its own key: only the decision dedups
                ingest(svc, [_report(d, i, key=f"{tag}-{i}")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(f"caller{t}",)) for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ingest(svc, [_report(d, i) for i, d in enumerate(routed)])  # a retried batch
    with svc.database.session(write=False) as s:
        stored = s.execute(sa.select(outcomes.c.id)).scalars().all()
        links = s.execute(sa.select(decision_table.c.outcome_id)).scalars().all()
    assert len(stored) == N
    assert sorted(links) == sorted(stored)

    for oid in stored:
        svc.train_from_outcome(oid)  # one call per outcome: the rest are duplicates
        svc.train_from_outcome(oid)
    svc.train_hourly_batch_all()
    svc.train_hourly_batch_all()
    with svc.database.session(write=False) as s:
        rows = s.execute(
            sa.select(training_history.c.timescale, training_history.c.details).where(
                training_history.c.timescale == "online"
            )
        ).all()
        hourly = s.execute(
            sa.select(sa.func.sum(training_history.c.outcomes)).where(
                training_history.c.timescale == "hourly_batch",
                training_history.c.kernel_name.in_(["poseidon", "zeus"]),
            )
        ).scalar()
    trained = Counter(oid for _t, details in rows for oid in details["outcome_ids"])
    assert sorted(trained) == sorted(stored)
    assert set(trained.values()) == {1}
    assert hourly == N
