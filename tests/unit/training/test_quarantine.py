"""Defect D2: an undecodable stored outcome is quarantined, never wedges its god."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from pantheon.errors import PantheonError, ValidationError
from pantheon.store import outcomes as outcome_rows
from pantheon.store.models import kernels, outcomes
from pantheon.training import queries
from pantheon.training.encoding import current_version
from pantheon.training.service import TrainingService
from tests.unit.training.conftest import add

pytestmark = pytest.mark.unit


def _corrupt(svc: TrainingService, oid: int, basin: bytes = b"\x00\x01\x02") -> None:
    # Recorded as made by the running coordizer: a basin of another version (or none) is
    # recomputed from the prompt before training, so only this one is poison.
    with svc.database.session() as s:
        s.execute(
            sa.update(outcomes)
            .where(outcomes.c.id == oid)
            .values(basin=basin, coordizer_version=current_version())
        )


def _marks(svc: TrainingService, oid: int) -> tuple[object, object, object]:
    with svc.database.session(write=False) as s:
        row = s.execute(
            sa.select(
                outcomes.c.trained_online_at, outcomes.c.quarantined_at, outcomes.c.error
            ).where(outcomes.c.id == oid)
        ).one()
    return row[0], row[1], row[2]


def test_the_requested_bad_outcome_raises_a_permanent_error(svc: TrainingService) -> None:
    bad, good = add(svc, "zeus", 2)
    _corrupt(svc, bad)
    with pytest.raises(ValidationError, match="quarantined") as caught:
        svc.train_from_outcome(bad)
    assert isinstance(caught.value, PantheonError)
    assert not caught.value.transient
    assert caught.value.details["outcome_id"] == bad
    # The god's other outcome trained in the same (committed) step.
    assert _marks(svc, good)[0] is not None
    trained_at, quarantined_at, error = _marks(svc, bad)
    assert trained_at is None
    assert quarantined_at is not None
    assert "64 float32" in str(error)
    with pytest.raises(ValidationError, match="quarantined"):  # and again, without a claim
        svc.train_from_outcome(bad)


def test_a_bad_row_does_not_block_later_outcomes(svc: TrainingService) -> None:
    bad = add(svc, "zeus", 1)[0]
    _corrupt(svc, bad, np.full(64, np.inf, dtype="<f4").tobytes())
    good = add(svc, "zeus", 2, start=1)
    result = svc.train_from_outcome(good[0])
    assert result["status"] == "success"
    assert result["coalesced"] == 2
    assert svc.train_hourly_batch("zeus")["batch_size"] == 2
    assert svc.pending_online(0, 1000) == []
    figures = queries.counts(svc)
    assert figures["quarantined"] == 1
    assert figures["pending_online"] == 0
    with svc.database.session(write=False) as s:
        total = s.execute(sa.select(sa.func.sum(kernels.c.outcomes_trained))).scalar_one()
    assert total == figures["trained_online"] == 2


def test_the_drain_claims_past_a_run_of_bad_rows(make_service: Any) -> None:
    svc = make_service(online_coalesce_max=1, online_drain_seconds=60.0)
    ids = add(svc, "hera", 4)
    for oid in ids[:2]:  # the drain's next two claims (one row each) find only bad rows
        _corrupt(svc, oid)
    result = svc.train_from_outcome(ids[3])
    assert result["status"] == "success"
    assert result["coalesced"] == 2
    assert _marks(svc, ids[2])[0] is not None
    with svc.database.session(write=False) as s:
        assert outcome_rows.count_pending(s, "hera", outcome_rows.ONLINE) == 0
    assert all(_marks(svc, oid)[1] is not None for oid in ids[:2])
