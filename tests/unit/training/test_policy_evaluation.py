"""Off-policy evaluation and cost calibration on recorded decisions (service level)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pantheon.errors import ValidationError
from pantheon.learning.policy import seeded_source
from pantheon.training import calibration, decisions, evaluation
from pantheon.training.intake import OutcomeIn, ingest
from pantheon.training.service import TrainingService

pytestmark = pytest.mark.unit

#: The true success rate of each god (the same on every prompt).
TRUE = {"big": 0.8, "small": 0.5}


@pytest.fixture
def two_gods(make_service: Any, tmp_path: Path) -> TrainingService:
    roster = tmp_path / "roster.json"
    roster.write_text(
        '{"gods": [{"name": "big", "cost_per_call": 10}, {"name": "small", "cost_per_call": 1}]}'
    )
    service: TrainingService = make_service(roster_file=roster)
    return service


def _traffic(svc: TrainingService, n: int, explore: float) -> None:
    source = seeded_source(11)
    truth = np.random.default_rng(12)
    items = []
    for i in range(n):
        prompt = f"question {i} about {'ships' if i % 2 else 'numbers'}"
        d = decisions.route(svc, prompt, explore=explore, source=source)
        success = bool(truth.random() < TRUE[d.god_name])
        items.append(
            OutcomeIn(
                god_name=d.god_name,
                prompt=prompt,
                response="r",
                success=success,
                decision_id=d.decision_id,
            )
        )
    ingest(svc, items)


def test_estimates_recover_each_policy_and_costs_are_exact(two_gods: TrainingService) -> None:
    _traffic(two_gods, 1500, explore=1.0)  # uniform logging: every policy is supported
    report = evaluation.evaluate(two_gods)
    assert report.decisions == 1500
    assert report.gods == ["big", "small"]
    expected = {"always:big": 0.8, "always:small": 0.5, "random": 0.65}
    for name, value in expected.items():
        p = report.policy(name)
        for est in (p.ips, p.snips, p.dr):
            assert est.low - 0.01 <= value <= est.high + 0.01, (name, est)
    logging = report.policy("logging")
    assert logging.ips.value == pytest.approx(logging.snips.value)
    assert report.policy("always:big").expected_cost == pytest.approx(10.0)
    assert report.policy("random").expected_cost == pytest.approx(5.5)
    assert {p.policy for p in report.policies} == {
        "logging",
        "greedy",
        "always:big",
        "always:small",
        "random",
    }


def test_overrides_are_left_out(two_gods: TrainingService) -> None:
    d = decisions.route(two_gods, "a prompt", explore=False)
    other = "small" if d.god_name == "big" else "big"
    ingest(
        two_gods,
        [
            OutcomeIn(
                god_name=other,
                prompt="a prompt",
                response="r",
                success=True,
                decision_id=d.decision_id,
            )
        ],
    )
    assert evaluation.evaluate(two_gods).decisions == 0


def test_no_log_yet(two_gods: TrainingService) -> None:
    report = evaluation.evaluate(two_gods)
    assert report.decisions == 0
    assert report.policies == []


def test_calibration_finds_the_weight_for_a_share(two_gods: TrainingService) -> None:
    _traffic(two_gods, 300, explore=1.0)
    items = [
        OutcomeIn(god_name="small", prompt=f"question {i} about ships", response="r", success=True)
        for i in range(60)
    ]
    ids = ingest(two_gods, items).outcome_ids
    two_gods.train_from_outcome(ids[0])
    for share in (0.0, 0.3, 0.7, 1.0):
        result = calibration.calibrate(two_gods, share)
        assert result.god_name == "big"
        assert result.achieved_share <= share + 1e-9
        assert result.prompts == 300
        if result.cost_weight > 0:
            # a slightly smaller weight sends more than the share: the weight is the least
            more = calibration.calibrate(two_gods, min(1.0, result.achieved_share + 0.2))
            assert more.cost_weight <= result.cost_weight


def test_calibration_refusals(make_service: Any, two_gods: TrainingService) -> None:
    with pytest.raises(ValidationError, match="no routing decision"):
        calibration.calibrate(two_gods, 0.3)
    with pytest.raises(ValidationError):
        calibration.calibrate(two_gods, 1.5)
    same = make_service()
    decisions.route(same, "hello")
    with pytest.raises(ValidationError, match="costs the same"):
        calibration.calibrate(same, 0.3)
