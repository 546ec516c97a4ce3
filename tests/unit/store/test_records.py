"""The typed rows the store hands out name exactly the columns of their tables."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pantheon.store.checkpoints import CheckpointRecord
from pantheon.store.kernels import HistoryRecord, TransferRecord
from pantheon.store.models import checkpoints, knowledge_transfers, schedule_runs, training_history
from pantheon.store.schedule_runs import ScheduleRunRecord

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("record", "table"),
    [
        (CheckpointRecord, checkpoints),
        (HistoryRecord, training_history),
        (TransferRecord, knowledge_transfers),
        (ScheduleRunRecord, schedule_runs),
    ],
)
def test_record_keys_are_the_table_columns(record: type, table: sa.Table) -> None:
    assert set(record.__annotations__) == set(table.c.keys())
