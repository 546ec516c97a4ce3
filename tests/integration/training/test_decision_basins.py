"""An outcome linked to its routing decision is trained on the decision's basin, without
encoding its prompt again, on SQLite and PostgreSQL; only a decision of the same prompt
whose basin's coordizer version is known is reused."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import cast

import pytest
import sqlalchemy as sa

from pantheon.learning import coordizer
from pantheon.store.models import decisions as decision_table
from pantheon.store.models import outcomes
from pantheon.training import decisions
from pantheon.training.encoding import current_version
from pantheon.training.intake import OutcomeIn, ingest
from pantheon.training.service import TrainingService
from tests.fakes.coordizer import Counting

pytestmark = pytest.mark.integration

MakeService = Callable[..., TrainingService]
N = 12


def _prompt(i: int) -> str:
    return f"question {i} about the wine-dark sea"


def _report(d: decisions.RouteDecision, prompt: str, i: int) -> OutcomeIn:
    return OutcomeIn(
        god_name=d.god_name,
        prompt=prompt,
        response="an answer",
        success=i % 3 != 0,
        decision_id=d.decision_id,
    )


def _stored(svc: TrainingService, ids: list[int]) -> dict[int, tuple[bytes | None, str | None]]:
    with svc.database.session(write=False) as s:
        rows = s.execute(
            sa.select(outcomes.c.id, outcomes.c.basin, outcomes.c.coordizer_version).where(
                outcomes.c.id.in_(ids)
            )
        ).all()
    return {int(r[0]): (r[1], r[2]) for r in rows}


def _decision_basin(svc: TrainingService, decision_id: uuid.UUID) -> bytes:
    with svc.database.session(write=False) as s:
        stmt = sa.select(decision_table.c.basin).where(decision_table.c.id == decision_id)
        return bytes(s.execute(stmt).scalar_one())


def _set_version(svc: TrainingService, decision_id: uuid.UUID, version: str | None) -> None:
    with svc.database.session() as s:
        s.execute(
            sa.update(decision_table)
            .where(decision_table.c.id == decision_id)
            .values(coordizer_version=version)
        )


@pytest.fixture
def web(make_service: MakeService) -> TrainingService:
    # No process cache: a route and its outcome may reach different web processes.
    return make_service(basin_cache_size=0)


def test_a_linked_outcome_is_trained_without_encoding_its_prompt(
    web: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    routed = [decisions.route(web, _prompt(i), candidates=["poseidon", "zeus"]) for i in range(N)]
    spy = Counting(coordizer.coordize_many)
    monkeypatch.setattr(coordizer, "coordize_many", spy)
    ids = ingest(web, [_report(d, _prompt(i), i) for i, d in enumerate(routed)]).outcome_ids
    stored = _stored(web, ids)
    for oid, d in zip(ids, routed, strict=True):
        assert stored[oid] == (_decision_basin(web, d.decision_id), current_version())
    trained = sum(int(str(web.train_from_outcome(oid)["coalesced"])) for oid in ids)
    assert trained == N
    hourly = cast(dict[str, dict[str, object]], web.train_hourly_batch_all()["results"])
    assert sum(int(cast(int, r["batch_size"])) for r in hourly.values()) == N
    assert spy.calls == []


@pytest.mark.parametrize("version", ["another-coordizer:0", None])
def test_a_decision_of_another_or_unknown_version_is_not_reused(
    web: TrainingService, monkeypatch: pytest.MonkeyPatch, version: str | None
) -> None:
    d = decisions.route(web, _prompt(0), candidates=["zeus"])
    _set_version(web, d.decision_id, version)
    spy = Counting(coordizer.coordize_many)
    monkeypatch.setattr(coordizer, "coordize_many", spy)
    (oid,) = ingest(web, [_report(d, _prompt(0), 0)]).outcome_ids
    web.train_from_outcome(oid)
    assert spy.prompts == [_prompt(0)]
    assert _stored(web, [oid])[oid][1] == current_version()


def test_a_decision_routed_for_another_prompt_is_not_reused(
    web: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = decisions.route(web, _prompt(0), candidates=["zeus"])
    spy = Counting(coordizer.coordize_many)
    monkeypatch.setattr(coordizer, "coordize_many", spy)
    (oid,) = ingest(web, [_report(d, _prompt(1), 0)]).outcome_ids
    assert _stored(web, [oid])[oid] == (None, None)
    web.train_from_outcome(oid)
    assert spy.prompts == [_prompt(1)]
    assert _stored(web, [oid])[oid][0] != _decision_basin(web, d.decision_id)
