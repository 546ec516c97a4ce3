"""A stored outcome that cannot be decoded must not wedge its god's training.

Found by the reliability suite (defect D2): the online step and the hourly batch coalesce a
god's pending rows, so one bad row made every later step of that god fail, forever, and the
outbox sweep re-dispatched it on every slot. The claim now quarantines such a row.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
import sqlalchemy as sa

from pantheon.api.schemas import OutcomeIn
from pantheon.store.migrate import ensure_schema
from pantheon.store.models import outcomes
from pantheon.training.encoding import current_version
from pantheon.training.intake import ingest
from pantheon.training.service import TrainingService

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


def outcome(prompt: str) -> OutcomeIn:
    return OutcomeIn(god_name="zeus", prompt=prompt, response="r", success=True)


def test_a_corrupt_row_does_not_block_the_gods_other_outcomes(
    database_url: str, make_settings: Any
) -> None:
    settings = make_settings(database_url_raw=database_url)
    ensure_schema(settings)
    service = TrainingService(settings)
    try:
        bad = ingest(service, [outcome("the row that gets corrupted")]).new_ids[0]
        with service.database.session() as session:
            session.execute(
                sa.update(outcomes)
                .where(outcomes.c.id == bad)
                .values(basin=b"\x00\x01\x02", coordizer_version=current_version())
            )
        good = ingest(service, [outcome("a healthy outcome")]).new_ids[0]
        result = service.train_from_outcome(good)
        assert result["status"] in ("success", "duplicate")
        batch = service.train_hourly_batch("zeus")
        assert cast(int, batch["batch_size"]) >= 1
        with service.database.session() as session:
            trained = session.execute(
                sa.select(outcomes.c.trained_online_at).where(outcomes.c.id == good)
            ).scalar_one()
        assert trained is not None
    finally:
        service.database.dispose()
