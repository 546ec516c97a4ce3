from __future__ import annotations

import json

import pytest

from pantheon.clock import utcnow
from pantheon.store.db import Database
from pantheon.store.schedule_runs import ScheduleRuns
from pantheon.training import queries
from pantheon.training.service import TrainingService
from tests.unit.training.conftest import add

pytestmark = pytest.mark.unit


def test_list_kernels_covers_the_roster_and_trends(svc: TrainingService) -> None:
    ids = add(svc, "zeus", 6)
    svc.train_from_outcome(ids[0])
    svc.train_hourly_batch("zeus")
    svc.save_checkpoint("zeus")
    items = queries.list_kernels(svc)
    json.dumps(items)
    assert [i["god_name"] for i in items] == svc.roster.kernel_names
    zeus = next(i for i in items if i["god_name"] == "zeus")
    assert zeus["kind"] == "god"
    assert zeus["shadow"] == "zeus_shadow"
    assert zeus["outcomes_trained"] == 6
    assert zeus["step_count"] > 1
    assert len(zeus["loss_trend"]) == 2
    assert zeus["checkpoints"] == 1
    assert zeus["last_trained"] is not None
    hera = queries.get_kernel_info(svc, "HERA")
    assert hera["exists"] is False
    assert hera["step_count"] == 0
    assert queries.get_kernel_info(svc, "zeus_shadow")["kind"] == "shadow"


def test_history_counts_transfers_and_runs(svc: TrainingService) -> None:
    ids = add(svc, "zeus", 4)
    svc.train_from_outcome(ids[0])
    svc.knowledge_transfer("evolution", "zeus", "hera", 0.2)
    hist = queries.training_history(svc, "zeus")
    assert [h["timescale"] for h in hist] == ["online"]
    assert queries.training_history(svc, timescale="transfer")[0]["kernel_name"] == "hera"
    counts = queries.counts(svc)
    assert counts["outcomes"] == 4
    assert counts["trained_online"] == 4
    assert counts["pending_batch"] == 4
    assert counts["kernel_step_counts"]["zeus"] == 1
    assert queries.list_transfers(svc)[0]["transfer_type"] == "evolution"
    assert isinstance(svc.database, Database)
    ScheduleRuns(svc.database).claim_slot("hourly", utcnow())
    runs = queries.schedule_runs(svc)
    assert runs[0]["job"] == "hourly"
    assert isinstance(runs[0]["slot"], str)
    json.dumps([hist, counts, runs, queries.list_checkpoints(svc)])
