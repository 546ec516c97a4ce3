"""Training history rows carry the outcome-level audit and the spread of predictions."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from pantheon.learning.batch import Batch
from pantheon.learning.kernel import Kernel
from pantheon.store import kernels as kernel_rows
from pantheon.store.kernels import HistoryRecord
from pantheon.store.models import kernels, outcomes
from pantheon.training import _kernels, queries
from pantheon.training.service import TrainingService
from tests.unit.training.conftest import add

pytestmark = pytest.mark.unit


def _rows(svc: TrainingService, timescale: str) -> list[HistoryRecord]:
    with svc.database.session(write=False) as s:
        return kernel_rows.history(s, timescale=timescale)


def test_online_rows_list_the_ids_they_trained(svc: TrainingService) -> None:
    ids = add(svc, "zeus", 5)
    more = add(svc, "zeus", 3, start=5)
    assert svc.train_from_outcome(ids[0])["coalesced"] == 8
    assert svc.train_from_outcome(ids[1])["status"] == "duplicate"
    (row,) = _rows(svc, "online")
    assert row["details"]["outcome_ids"] == ids + more
    assert row["details"]["outcome_count"] == 8
    assert row["details"]["first_id"] == ids[0]
    assert row["details"]["last_id"] == more[-1]
    assert 0.0 <= row["details"]["p_spread"] < 0.5
    with svc.database.session(write=False) as s:
        trained = s.execute(
            sa.select(sa.func.count()).where(outcomes.c.trained_online_at.is_not(None))
        ).scalar_one()
        total = s.execute(sa.select(sa.func.sum(kernels.c.outcomes_trained))).scalar_one()
    assert trained == total == 8


def test_online_steps_split_by_coalesce_limit_list_disjoint_ids(
    make_service: Any,
) -> None:
    svc = make_service(online_coalesce_max=3, online_drain_seconds=60.0)
    ids = add(svc, "hera", 7)
    assert svc.train_from_outcome(ids[4])["coalesced"] == 7
    listed = [i for row in _rows(svc, "online") for i in row["details"]["outcome_ids"]]
    assert sorted(listed) == ids


def test_hourly_rows_list_ids_on_the_god_row_only(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add(svc, "athena", 4)
    svc.train_hourly_batch("athena")
    god, shadow = _rows(svc, "hourly_batch")
    assert god["kernel_name"] == "athena"
    assert shadow["kernel_name"] == "athena_shadow"
    assert god["details"]["outcome_ids"] == ids
    assert "outcome_ids" not in shadow["details"]
    assert shadow["details"]["outcome_count"] == 4
    assert god["details"]["p_spread"] is not None
    assert shadow["details"]["p_spread"] is not None
    # A chunk above the cap records the count and the id bounds only.
    monkeypatch.setattr("pantheon.training.service.HOURLY_AUDIT_MAX_IDS", 2)
    more = add(svc, "athena", 3, start=10)
    svc.train_hourly_batch("athena")
    god = _rows(svc, "hourly_batch")[-2]
    assert "outcome_ids" not in god["details"]
    assert (god["details"]["first_id"], god["details"]["last_id"]) == (more[0], more[-1])
    assert god["details"]["outcome_count"] == 3


def test_api_history_leaves_the_id_lists_in_the_store(svc: TrainingService) -> None:
    ids = add(svc, "zeus", 2)
    svc.train_from_outcome(ids[0])
    (row,) = queries.training_history(svc, timescale="online")
    assert "outcome_ids" not in row["details"]
    assert row["details"]["outcome_count"] == 2
    assert row["details"]["p_spread"] is not None


def test_p_spread_is_none_for_an_empty_batch() -> None:
    assert _kernels.p_spread(Kernel("zeus"), Batch.empty()) is None


def test_consolidation_rows_carry_spread_and_count(svc: TrainingService) -> None:
    add(svc, "apollo", 6)
    result = svc.train_nightly_consolidation("apollo")
    (row,) = _rows(svc, "nightly_consolidation")
    assert row["details"]["outcome_count"] == result["outcomes"]
    assert row["details"]["p_spread"] is not None
    assert "outcome_ids" not in row["details"]
