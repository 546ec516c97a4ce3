"""Routing decisions: recorded with exact propensities, resolvable, linked to outcomes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from pantheon.clock import utcnow
from pantheon.errors import NotFoundError, UnknownGodError, ValidationError
from pantheon.learning.policy import Policy, PolicyKind, probabilities, seeded_source
from pantheon.store.models import decisions as decision_table
from pantheon.store.models import outcomes as outcome_table
from pantheon.training import decisions
from pantheon.training.intake import ingest
from pantheon.training.service import TrainingService
from pantheon.worker import queues
from pantheon.worker.tasks import TaskEnv, run_task
from tests.unit.training.conftest import outcome

pytestmark = pytest.mark.unit


def test_route_records_the_decision_with_its_propensity(svc: TrainingService) -> None:
    d = decisions.route(svc, "solve x + 1 = 2", candidates=["Athena", "zeus"], explore=True)
    assert d.god_name in {"athena", "zeus"}
    assert {r.god_name for r in d.ranking} == {"athena", "zeus"}
    assert sum(r.probability for r in d.ranking) == pytest.approx(1.0)
    chosen = next(r for r in d.ranking if r.god_name == d.god_name)
    assert d.propensity == chosen.probability
    assert min(r.probability for r in d.ranking) >= svc.settings.explore_rate / 2 - 1e-12
    view = decisions.get_decision(svc, str(d.decision_id))
    assert view.god_name == d.god_name
    assert view.propensity == d.propensity
    assert view.policy == "softmax"
    assert view.policy_params["rate"] == svc.settings.explore_rate
    assert set(view.kernel_versions) == {"athena", "zeus"}
    assert [r.god_name for r in view.ranking] == [r.god_name for r in d.ranking]
    assert view.outcome_id is None


def test_thompson_routing_logs_propensities_from_the_logged_uncertainties(make_service) -> None:  # type: ignore[no-untyped-def]
    """The configured thompson policy: the recorded propensity is recomputed exactly from
    the recorded scores and uncertainties; ``explore=True`` uses it too, ``False`` is greedy."""
    svc = make_service(route_policy=PolicyKind.THOMPSON, explore_spread=2.0, explore_rate=0.2)
    ids = ingest(svc, [outcome("athena", i, prompt="integrate x dx") for i in range(6)])
    svc.train_from_outcome(ids.outcome_ids[0])
    for explore in (None, True):
        d = decisions.route(
            svc,
            "integrate x dx",
            candidates=["athena", "zeus", "hera"],
            explore=explore,
            source=seeded_source(1),
        )
        assert d.policy is PolicyKind.THOMPSON
        assert d.policy_params["spread"] == 2.0
        view = decisions.get_decision(svc, d.decision_id)
        again = probabilities(
            Policy(kind=PolicyKind.THOMPSON, spread=2.0, rate=0.2),
            [r.score for r in view.ranking],
            [r.uncertainty for r in view.ranking],
        )
        assert [r.probability for r in view.ranking] == pytest.approx(again.tolist(), abs=1e-12)
        assert min(again) >= 0.2 / 3 - 1e-12
    assert decisions.route(svc, "integrate x dx", explore=False).policy is PolicyKind.GREEDY


def test_the_prompt_text_is_not_stored(svc: TrainingService) -> None:
    secret = "my bank password is hunter2"
    d = decisions.route(svc, secret)
    with svc.database.session(write=False) as s:
        row = s.execute(sa.select(decision_table).where(decision_table.c.id == d.decision_id)).one()
    assert secret not in str(tuple(row))
    assert row.prompt_sha256 == decisions.prompt_digest(secret)
    assert len(row.basin) == 256


def test_greedy_takes_the_best_and_splits_ties(svc: TrainingService) -> None:
    fresh = decisions.route(svc, "hello there", explore=False)  # every kernel the same prior
    assert fresh.policy is PolicyKind.GREEDY
    assert fresh.propensity == pytest.approx(1 / 13)
    ids = ingest(svc, [outcome("athena", i, prompt="hello there", success=True) for i in range(6)])
    svc.train_from_outcome(ids.outcome_ids[0])
    d = decisions.route(svc, "hello there", explore=False)
    assert d.god_name == d.ranking[0].god_name == "athena"
    assert d.propensity == 1.0


def test_a_rate_per_request_and_a_seeded_source(svc: TrainingService) -> None:
    a = decisions.route(svc, "hi", explore=1.0, source=seeded_source(4))
    b = decisions.route(svc, "hi", explore=1.0, source=seeded_source(4))
    assert a.god_name == b.god_name
    assert a.propensity == pytest.approx(1 / 13)
    assert a.decision_id != b.decision_id


def test_cost_weight_moves_the_choice_to_the_cheaper_god(make_service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    roster = tmp_path / "roster.json"
    roster.write_text(
        '{"gods": [{"name": "big", "cost_per_call": 10}, {"name": "small", "cost_per_call": 1}]}'
    )
    svc = make_service(roster_file=roster)
    free = decisions.route(svc, "anything", explore=False)
    costly = decisions.route(svc, "anything", explore=False, cost_weight=0.01)
    assert {r.god_name: r.cost for r in costly.ranking} == {"big": 10.0, "small": 1.0}
    assert costly.god_name == "small"
    assert costly.ranking[0].score == pytest.approx(costly.ranking[0].p_success - 0.01)
    assert free.ranking[0].score == free.ranking[0].p_success


@pytest.mark.parametrize(
    ("prompt", "kw", "error"),
    [
        ("", {}, ValidationError),
        ("x", {"candidates": ["loki"]}, UnknownGodError),
        ("x", {"cost_weight": -1.0}, ValidationError),
        ("x", {"cost_weight": float("nan")}, ValidationError),
        ("x", {"explore": 2.0}, ValidationError),
    ],
)
def test_bad_route_requests_are_refused(
    svc: TrainingService, prompt: str, kw: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        decisions.route(svc, prompt, **kw)  # type: ignore[arg-type]


def test_unknown_or_malformed_decision_ids(svc: TrainingService) -> None:
    with pytest.raises(NotFoundError):
        decisions.get_decision(svc, uuid.uuid4())
    with pytest.raises(ValidationError):
        decisions.get_decision(svc, "not-a-uuid")


def test_an_outcome_links_to_its_decision_and_an_other_god_is_an_override(
    svc: TrainingService,
) -> None:
    d1 = decisions.route(svc, "prompt one", candidates=["athena", "zeus"], explore=False)
    d2 = decisions.route(svc, "prompt two", candidates=["athena", "zeus"], explore=False)
    other = "zeus" if d2.god_name == "athena" else "athena"
    result = ingest(
        svc,
        [
            outcome(d1.god_name, 1, prompt="prompt one", decision_id=d1.decision_id),
            outcome(other, 2, prompt="prompt two", decision_id=d2.decision_id),
        ],
    )
    assert result.accepted == 2
    v1 = decisions.get_decision(svc, d1.decision_id)
    v2 = decisions.get_decision(svc, d2.decision_id)
    assert (v1.outcome_id, v1.outcome_god, v1.override) == (
        result.outcome_ids[0],
        d1.god_name,
        False,
    )
    assert (v2.outcome_id, v2.outcome_god, v2.override) == (result.outcome_ids[1], other, True)


def test_a_second_outcome_for_a_decision_is_a_duplicate(svc: TrainingService) -> None:
    d = decisions.route(svc, "once only", candidates=["athena"])
    first = ingest(svc, [outcome("athena", 1, decision_id=d.decision_id)])
    again = ingest(svc, [outcome("athena", 1, decision_id=d.decision_id)])
    keyed = ingest(svc, [outcome("athena", 3, decision_id=d.decision_id, outcome_key="k-3")])
    assert first.accepted == 1
    assert (again.accepted, again.duplicates) == (0, 1)
    assert again.outcome_ids == first.outcome_ids
    assert keyed.outcome_ids == first.outcome_ids
    assert keyed.accepted == 0
    d2 = decisions.route(svc, "twice in one batch", candidates=["athena"])
    both = ingest(
        svc,
        [
            outcome("athena", 4, decision_id=d2.decision_id),
            outcome("athena", 5, decision_id=d2.decision_id, outcome_key="k-5"),
        ],
    )
    assert (both.accepted, both.duplicates) == (1, 1)
    assert both.outcome_ids[0] == both.outcome_ids[1]
    with svc.database.session(write=False) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(outcome_table)).scalar() == 2


def test_an_unknown_decision_refuses_the_whole_batch(svc: TrainingService) -> None:
    with pytest.raises(ValidationError, match="unknown decision_id"):
        ingest(
            svc,
            [outcome("athena", 1), outcome("athena", 2, decision_id=uuid.uuid4())],
        )
    with svc.database.session(write=False) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(outcome_table)).scalar() == 0


def test_cleanup_deletes_decisions_past_retention(svc: TrainingService) -> None:
    old = decisions.route(svc, "long ago")
    new = decisions.route(svc, "just now")
    with svc.database.session() as s:
        s.execute(
            sa.update(decision_table)
            .where(decision_table.c.id == old.decision_id)
            .values(created_at=utcnow() - timedelta(days=31))
        )
    result = svc.cleanup_old_checkpoints()
    assert result["decisions_deleted"] == 1
    with pytest.raises(NotFoundError):
        decisions.get_decision(svc, old.decision_id)
    assert decisions.get_decision(svc, new.decision_id).god_name == new.god_name


def test_routing_follows_training(svc: TrainingService) -> None:
    """A linked outcome is trained like any other and the next route sees it."""
    d = decisions.route(svc, "solve the algebra equation 3", candidates=["athena", "ares"])
    before = {r.god_name: r.p_success for r in d.ranking}
    items = [
        outcome("athena", i, prompt=f"solve the algebra equation {i}", success=True)
        for i in range(30)
    ]
    ids = ingest(svc, items).outcome_ids
    svc.train_from_outcome(ids[0])
    after = decisions.route(svc, "solve the algebra equation 3", candidates=["athena", "ares"])
    assert {r.god_name: r.p_success for r in after.ranking}["athena"] > before["athena"]
    assert np.isfinite([r.score for r in after.ranking]).all()


def test_the_celery_task_takes_a_decision_id(svc: TrainingService) -> None:
    """``train_from_outcome_task`` with the seed's outcome fields and ``decision_id``: the
    outcome is stored, linked and trained; an unknown id is a permanent validation error."""
    d = decisions.route(svc, "task-borne prompt", candidates=["athena"])
    kwargs = {
        "god_name": "athena",
        "prompt": "task-borne prompt",
        "response": "r",
        "success": True,
        "decision_id": str(d.decision_id),
    }
    result = run_task(queues.TRAIN_FROM_OUTCOME, TaskEnv(svc, svc.settings, "t-1"), kwargs)
    assert result["status"] == "success"
    view = decisions.get_decision(svc, d.decision_id)
    assert view.outcome_id == result["outcome_id"]
    assert view.override is False
    with pytest.raises(ValidationError, match="unknown decision_id"):
        run_task(
            queues.TRAIN_FROM_OUTCOME,
            TaskEnv(svc, svc.settings, "t-2"),
            {**kwargs, "decision_id": str(uuid.uuid4())},
        )
