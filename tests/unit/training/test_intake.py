from __future__ import annotations

import math

import numpy as np
import pytest
import sqlalchemy as sa

from pantheon.errors import UnknownGodError, ValidationError
from pantheon.learning import coordizer
from pantheon.learning.coordizer import coordize
from pantheon.learning.reward import compute_reward
from pantheon.store.basins import decode_basins
from pantheon.store.models import outcomes
from pantheon.training.intake import OutcomeIn, ingest, parse_many
from pantheon.training.service import TrainingService
from tests.unit.training.conftest import outcome

pytestmark = pytest.mark.unit

BASE = {"god_name": "zeus", "prompt": "p", "response": "r", "success": True}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompt": "   "}, "prompt: prompt must not be empty"),
        ({"phi": 1.5}, "phi: phi must be in [0, 1]"),
        ({"coherence_score": -0.1}, "coherence_score: coherence_score must be in [0, 1]"),
        ({"score": math.nan}, "score: score must be a finite number"),
        ({"kappa": math.inf}, "kappa: kappa must be a finite number"),
        ({"basin_trajectory": [[0.1] * 63]}, "point 0 has 63 values"),
        ({"basin_trajectory": []}, "basin_trajectory must have 1 to"),
        ({"basin_trajectory": [[-1.0] * 64]}, "finite and non-negative"),
        ({"source_type": "email"}, "source_type"),
        ({"success": None}, "success"),
    ],
)
def test_parse_names_the_bad_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        OutcomeIn.parse({**BASE, **change}, index=3)
    assert message in info.value.message
    assert info.value.message.startswith("outcomes[3].")


def test_parse_many_accepts_good_items() -> None:
    items = parse_many([BASE, {**BASE, "phi": 0.2, "basin_trajectory": [[1 / 64] * 64] * 3}])
    assert len(items) == 2
    assert items[1].phi == 0.2


def test_unknown_god_lists_valid_names(svc: TrainingService) -> None:
    with pytest.raises(UnknownGodError) as info:
        ingest(svc, [outcome("zeus", 0), outcome("odin", 1)])
    assert "odin" in info.value.message
    assert "zeus" in info.value.message
    assert info.value.details["index"] == 1


def test_over_long_texts_are_refused(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(max_prompt_chars=10, max_response_chars=5)
    with pytest.raises(ValidationError, match=r"outcomes\[0\].prompt: longer than 10"):
        ingest(svc, [outcome("zeus", 0, prompt="x" * 11)])
    with pytest.raises(ValidationError, match=r"outcomes\[0\].response: longer than 5"):
        ingest(svc, [outcome("zeus", 0, prompt="short", response="y" * 6)])


def test_rejected_batch_stores_nothing(svc: TrainingService) -> None:
    with pytest.raises(UnknownGodError):
        ingest(svc, [outcome("zeus", 0), outcome("nobody", 1)])
    with svc.database.session(write=False) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(outcomes)).scalar() == 0


def test_ingest_stores_text_reward_and_canonical_god_and_no_basin(svc: TrainingService) -> None:
    item = outcome("ZEUS", 0, prompt="Integrate x squared", phi=0.9, coherence_score=0.8)
    result = ingest(svc, [item])
    assert result.accepted == 1
    assert result.duplicates == 0
    assert result.ids_by_god == {"zeus": result.outcome_ids}
    with svc.database.session(write=False) as s:
        row = s.execute(sa.select(outcomes)).one()
    assert row.god_name == "zeus"
    assert row.reward == pytest.approx(compute_reward(True, 0.9, 0.8, None))
    assert row.prompt == "Integrate x squared"
    # The encoder is not on the intake path: the claim that trains the row computes it.
    assert row.basin is None
    assert row.coordizer_version is None
    assert row.trained_online_at is None
    assert row.created_at.tzinfo is not None
    svc.train_from_outcome(result.new_ids[0])
    with svc.database.session(write=False) as s:
        row = s.execute(sa.select(outcomes)).one()
    np.testing.assert_allclose(
        decode_basins([row.basin])[0], coordize("Integrate x squared"), rtol=1e-6
    )
    assert row.coordizer_version == coordizer.COORDIZER_VERSION


def test_outcome_key_is_idempotent(svc: TrainingService) -> None:
    first = ingest(svc, [outcome("zeus", 0, outcome_key="a"), outcome("zeus", 1)])
    again = ingest(
        svc,
        [
            outcome("zeus", 5, outcome_key="a"),
            outcome("hera", 2, outcome_key="b"),
            outcome("hera", 3, outcome_key="b"),
        ],
    )
    assert again.accepted == 1
    assert again.duplicates == 2
    assert again.outcome_ids[0] == first.outcome_ids[0]
    assert again.outcome_ids[1] == again.outcome_ids[2]
    assert again.new_ids == [again.outcome_ids[1]]
    assert again.ids_by_god == {"hera": [again.outcome_ids[1]]}
    with svc.database.session(write=False) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(outcomes)).scalar() == 3


def test_keyless_ids_follow_input_order(svc: TrainingService) -> None:
    items = [outcome("zeus", i, prompt=f"unique prompt {i}") for i in range(30)]
    ids = ingest(svc, items).outcome_ids
    with svc.database.session(write=False) as s:
        prompts = dict(s.execute(sa.select(outcomes.c.id, outcomes.c.prompt)).all())
    assert [prompts[i] for i in ids] == [f"unique prompt {i}" for i in range(30)]


def test_pending_online_lists_untrained(svc: TrainingService) -> None:
    ids = ingest(svc, [outcome("zeus", 0), outcome("hera", 1)]).outcome_ids
    assert svc.pending_online(0, 10) == [(ids[0], "zeus"), (ids[1], "hera")]
    assert svc.pending_online(3600, 10) == []
    svc.train_from_outcome(ids[0])
    assert svc.pending_online(0, 10) == [(ids[1], "hera")]


def test_empty_batch(svc: TrainingService) -> None:
    assert ingest(svc, []).accepted == 0
