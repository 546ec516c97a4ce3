"""Basins off the intake path and recoordize, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import sqlalchemy as sa
from numpy.typing import NDArray

from pantheon.errors import RepresentationMismatchError
from pantheon.learning import coordizer
from pantheon.store.models import outcomes
from pantheon.training import representation
from pantheon.training.encoding import current_version
from pantheon.training.intake import OutcomeIn, ingest
from pantheon.training.service import TrainingService
from tests.fakes.coordizer import Counting, pin_version

pytestmark = pytest.mark.integration

MakeService = Callable[..., TrainingService]


def _items(god: str, n: int, start: int = 0, keyed: bool = False) -> list[OutcomeIn]:
    return [
        OutcomeIn(
            god_name=god,
            prompt=f"question {i} for {god}",
            response="a",
            success=i % 3 != 0,
            outcome_key=f"{god}-{i}" if keyed else None,
        )
        for i in range(start, start + n)
    ]


def _versions(svc: TrainingService) -> list[str | None]:
    with svc.database.session(write=False) as s:
        stmt = sa.select(outcomes.c.coordizer_version).order_by(outcomes.c.id)
        return list(s.execute(stmt).scalars())


def _marks(svc: TrainingService) -> tuple[int, int, int]:
    with svc.database.session(write=False) as s:
        row = s.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(outcomes.c.trained_online_at),
                sa.func.count(outcomes.c.batch_processed_at),
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def test_intake_stores_without_encoding_and_training_encodes_once(
    make_service: MakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make_service()
    spy = Counting(coordizer.coordize_many)
    monkeypatch.setattr(coordizer, "coordize_many", spy)
    first = ingest(svc, _items("zeus", 30) + _items("zeus", 20, start=30, keyed=True))
    again = ingest(svc, _items("zeus", 20, start=30, keyed=True))
    assert (first.accepted, again.duplicates) == (50, 20)
    assert spy.calls == []
    assert _versions(svc) == [None] * 50
    result = svc.train_from_outcome(first.new_ids[0])
    assert result["coalesced"] == 50
    assert len(spy.calls) == 1
    assert len(spy.prompts) == 50
    assert svc.train_hourly_batch("zeus")["batch_size"] == 50
    svc.train_nightly_consolidation("zeus")
    assert len(spy.prompts) == 50  # each prompt encoded once across the three timescales
    assert _versions(svc) == [current_version()] * 50
    assert _marks(svc) == (50, 50, 50)


def test_recoordize_converts_old_rows_resumably_and_idempotently(
    make_service: MakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make_service(recoordize_batch=7)
    ids = ingest(svc, _items("zeus", 20) + _items("hera", 5)).new_ids
    svc.train_from_outcome(ids[0])
    svc.train_hourly_batch("zeus")
    spy = Counting(coordizer.coordize_many, shift=5)
    monkeypatch.setattr(coordizer, "coordize_many", spy)
    pin_version(monkeypatch, "test-coordizer-2")
    with pytest.raises(RepresentationMismatchError):
        svc.train_hourly_batch("zeus")

    def dies_on_third_page(texts: Sequence[str], vocabulary: object = None) -> NDArray[np.float64]:
        if len(spy.calls) == 2:
            raise RuntimeError("killed")
        return spy(texts)

    monkeypatch.setattr(coordizer, "coordize_many", dies_on_third_page)
    with pytest.raises(RuntimeError, match="killed"):
        representation.recoordize(svc)
    assert _versions(svc).count("test-coordizer-2") == 14  # two pages of 7 committed
    monkeypatch.setattr(coordizer, "coordize_many", spy)
    result = representation.recoordize(svc)
    assert result.basins_written == 11
    assert len(spy.prompts) == 25  # each stored prompt encoded once over both runs
    assert {"zeus", "zeus_shadow"} <= set(result.kernels_rebuilt)
    assert _versions(svc) == ["test-coordizer-2"] * 25
    again = representation.recoordize(svc)
    assert (again.basins_written, again.kernels_rebuilt) == (0, [])
    state = representation.status(svc, count_basins=True)
    assert (state.stale_kernels, state.basins_missing, state.basins_other_version) == ([], 0, 0)
    # The rebuild marked nothing: each outcome still trains once per timescale.
    before = _marks(svc)
    assert before == (25, 20, 20)
    svc.train_hourly_batch("hera")
    assert svc.train_from_outcome(ids[20])["coalesced"] == 5
    assert _marks(svc) == (25, 25, 25)
    assert len(spy.prompts) == 25
