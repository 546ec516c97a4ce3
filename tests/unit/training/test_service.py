from __future__ import annotations

import json
from typing import Any, NoReturn, cast

import pytest
import sqlalchemy as sa

from pantheon.errors import DatabaseUnavailableError, NotFoundError, TransferError, UnknownGodError
from pantheon.learning import timescales
from pantheon.learning.coordizer import coordize
from pantheon.learning.kernel import Kernel
from pantheon.store import kernels as kernel_rows
from pantheon.store.models import outcomes, training_history
from pantheon.training._fanout import for_each_god
from pantheon.training.service import TrainingService
from tests.unit.training.conftest import add

pytestmark = pytest.mark.unit


def _marked(svc: TrainingService, column: str) -> int:
    with svc.database.session(write=False) as s:
        return int(
            s.execute(
                sa.select(sa.func.count()).where(outcomes.c[column].is_not(None))
            ).scalar_one()
        )


def _kernel(svc: TrainingService, name: str) -> kernel_rows.KernelRecord:
    with svc.database.session(write=False) as s:
        record = kernel_rows.read(s, name)
    assert record is not None
    return record


def test_online_step_coalesces_and_is_once_only(svc: TrainingService) -> None:
    ids = add(svc, "zeus", 5) + add(svc, "hera", 3, start=10)
    result = svc.train_from_outcome(ids[2])
    assert result["status"] == "success"
    assert result["god_name"] == "zeus"
    assert result["coalesced"] == 5
    assert result["step_count"] == 1
    assert set(result.as_dict()) >= {"loss", "reward", "phi_before", "phi_after", "step_count"}
    json.dumps(result.as_dict())  # JSON-safe for the broker
    assert _marked(svc, "trained_online_at") == 5  # hera's rows are untouched
    again = svc.train_from_outcome(ids[2])
    assert again["status"] == "duplicate"
    assert again["step_count"] == 1
    record = _kernel(svc, "zeus")
    assert record.step_count == 1
    assert record.outcomes_trained == 5
    assert record.version == 2


def test_coalesce_limit_and_drain(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(online_coalesce_max=4)
    ids = add(svc, "zeus", 10)
    one = svc.train_from_outcome(ids[-1])
    assert one["coalesced"] == 4
    assert _marked(svc, "trained_online_at") == 4
    # The budget ran out with a backlog: the result names its oldest pending outcome.
    assert one["next_outcome_id"] == ids[3]  # ids[-1] and the three oldest were trained
    svc.online.drain_seconds = 30.0
    rest = svc.train_from_outcome(ids[5])
    assert rest["coalesced"] == 6
    assert rest["chunks"] == 2
    assert "next_outcome_id" not in rest
    assert _kernel(svc, "zeus").step_count == 3


@pytest.mark.parametrize("outcome_id", [12345, 0, -1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30])
def test_unknown_outcome(svc: TrainingService, outcome_id: int) -> None:
    # Ids no BIGINT holds name no outcome either: not found, never a driver's overflow.
    with pytest.raises(NotFoundError):
        svc.train_from_outcome(outcome_id)


def test_crash_after_training_leaves_rows_and_kernel_unchanged(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add(svc, "zeus", 4)
    svc.train_from_outcome(ids[0])  # version 2, all four trained
    more = add(svc, "zeus", 3, start=20)
    before = _kernel(svc, "zeus")
    real = timescales.train_from_outcome

    def crash(kernel: Any, batch: Any) -> dict[str, Any]:
        real(kernel, batch)
        raise RuntimeError("worker died")

    monkeypatch.setattr(timescales, "train_from_outcome", crash)
    with pytest.raises(RuntimeError):
        svc.train_from_outcome(more[0])
    after = _kernel(svc, "zeus")
    assert (after.version, after.step_count, after.state) == (
        before.version,
        before.step_count,
        before.state,
    )
    assert _marked(svc, "trained_online_at") == 4
    monkeypatch.setattr(timescales, "train_from_outcome", real)
    # The in-process cache did not keep the half-trained kernel either.
    ok = svc.train_from_outcome(more[0])
    assert ok["coalesced"] == 3
    assert ok["step_count"] == before.step_count + 1


def test_hourly_batch_claims_the_whole_backlog_in_chunks(svc: TrainingService) -> None:
    add(svc, "zeus", 25)
    add(svc, "hera", 5, start=100)
    svc.hourly_chunk = 10
    result = svc.train_hourly_batch("Zeus")
    assert result["status"] == "success"
    assert result["batch_size"] == 25
    assert cast(int, result["steps"]) > 0
    assert result["god_name"] == "zeus"
    assert _marked(svc, "batch_processed_at") == 25
    assert _kernel(svc, "zeus").version == 4  # created + three chunks
    # The shadow learns from the same rows with one pass to the god's three.
    assert _kernel(svc, "zeus_shadow").step_count * 3 == _kernel(svc, "zeus").step_count
    assert svc.train_hourly_batch("zeus")["status"] == "skipped"
    with svc.database.session(write=False) as s:
        rows = s.execute(
            sa.select(training_history.c.outcomes).where(
                training_history.c.timescale == "hourly_batch",
                training_history.c.kernel_name == "zeus",
            )
        ).scalars()
        assert sorted(rows) == [5, 10, 10]


def test_hourly_batch_crash_marks_nothing(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(svc, "zeus", 6)

    def crash(*_a: Any, **_k: Any) -> dict[str, Any]:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(timescales, "train_batch", crash)
    with pytest.raises(RuntimeError):
        svc.train_hourly_batch("zeus")
    assert _marked(svc, "batch_processed_at") == 0


def test_hourly_all_isolates_gods(svc: TrainingService, monkeypatch: pytest.MonkeyPatch) -> None:
    add(svc, "zeus", 3)
    add(svc, "hera", 3, start=10)
    real = svc._hourly_chunk

    def flaky(god: str) -> Any:
        if god == "zeus":
            raise RuntimeError("zeus is broken")
        return real(god)

    monkeypatch.setattr(svc, "_hourly_chunk", flaky)
    result = svc.train_hourly_batch_all()
    assert result["status"] == "error"
    assert result["failed"] == ["zeus"]
    per_god = cast(dict[str, dict[str, object]], result["results"])  # each god's JSON
    assert per_god["hera"]["batch_size"] == 3
    assert "zeus is broken" in cast(str, per_god["zeus"]["error"])
    assert result["kernels"] == len(svc.roster)


def test_consolidation_marks_valuable_recent_outcomes(svc: TrainingService) -> None:
    add(svc, "athena", 30)
    result = svc.train_nightly_consolidation("athena")
    assert result["status"] == "success"
    assert result["outcomes"] == 30
    assert result["checkpoint_id"] is not None
    assert isinstance(result["kept"], bool)
    assert _marked(svc, "consolidated_at") == 30
    again = svc.train_nightly_consolidation("athena")
    assert again["outcomes"] == 0


def test_disabled_changes_nothing(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(training_enabled=False)
    ids = add(svc, "zeus", 3)
    results = [
        svc.train_from_outcome(ids[0]),
        svc.train_hourly_batch("zeus"),
        svc.train_hourly_batch_all(),
        svc.train_nightly_consolidation("zeus"),
        svc.train_nightly_consolidation_all(),
        svc.knowledge_transfer("evolution", "zeus", "hera"),
        svc.sync_all_shadows(),
        svc.save_checkpoint("zeus"),
        svc.cleanup_old_checkpoints(),
        svc.restore_checkpoint(1),
    ]
    assert {r["status"] for r in results} == {"disabled"}
    with svc.database.session(write=False) as s:
        assert kernel_rows.versions(s) == {}
    assert _marked(svc, "trained_online_at") == 0


def test_transfer_persists_audits_and_validates(svc: TrainingService) -> None:
    add(svc, "zeus", 20)
    svc.train_hourly_batch("zeus")
    result = svc.knowledge_transfer("evolution", "zeus", "hera", 0.5)
    assert result["status"] == "success"
    assert (result["source_id"], result["target_id"], result["blend_ratio"]) == (
        "zeus",
        "hera",
        0.5,
    )
    assert result["checkpoint_id"] is not None
    probe = coordize("prompt number 2 about zeus")
    fresh = Kernel("hera").predict_one(probe).p_success
    assert svc.get_kernel("hera").predict_one(probe).p_success != pytest.approx(fresh, abs=1e-6)
    with pytest.raises(TransferError):
        svc.knowledge_transfer("teleport", "zeus", "hera")
    with pytest.raises(TransferError):
        svc.knowledge_transfer("evolution", "zeus", "zeus")
    with pytest.raises(TransferError):
        svc.knowledge_transfer("evolution", "zeus", "hera", 1.5)
    with pytest.raises(UnknownGodError):
        svc.knowledge_transfer("evolution", "odin", "hera")


def test_cannibalism_retires_source_and_breeding_uses_partner(svc: TrainingService) -> None:
    add(svc, "zeus", 10)
    svc.train_hourly_batch("zeus")
    bred = svc.knowledge_transfer("breeding", "zeus", "ares", 0.5, {"partner": "hera"})
    assert bred["status"] == "success"
    eaten = svc.knowledge_transfer("cannibalism", "hades", "zeus", 0.3)
    assert eaten["source_retired"] is True
    assert _kernel(svc, "hades").retired
    assert "hades" not in svc.active_gods()
    with pytest.raises(TransferError, match="retired"):
        svc.knowledge_transfer("evolution", "hades", "hera")


def test_shadow_sync_moves_shadow_toward_god(svc: TrainingService) -> None:
    add(svc, "zeus", 20)
    svc.train_hourly_batch("zeus")
    svc.train_from_outcome(1)
    probe = coordize("prompt number 2 about zeus")
    god_p = svc.get_kernel("zeus").predict_one(probe).p_success
    shadow_p = svc.get_kernel("zeus_shadow").predict_one(probe).p_success
    result = svc.sync_all_shadows()
    assert result["status"] == "success"
    assert result["pairs"] == len(svc.roster)
    synced = svc.get_kernel("zeus_shadow").predict_one(probe).p_success
    assert abs(synced - god_p) < abs(shadow_p - god_p)


def test_all_gods_down_on_the_database_raises_for_a_retry(svc: TrainingService) -> None:
    def down(god: str) -> NoReturn:
        raise DatabaseUnavailableError("database unavailable")

    with pytest.raises(DatabaseUnavailableError):
        for_each_god(svc.active_gods(), down, parallel=False)


def test_consolidation_takes_the_most_valuable_first(svc: TrainingService) -> None:
    add(svc, "athena", 12)
    svc.consolidation_max = 5
    assert svc.train_nightly_consolidation("athena")["outcomes"] == 5
    assert _marked(svc, "consolidated_at") == 5
    assert svc.train_nightly_consolidation("athena")["outcomes"] == 5
    assert svc.train_nightly_consolidation("athena")["outcomes"] == 2


def test_duplicate_trains_its_gods_pending_outcomes(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(online_coalesce_max=2)
    ids = add(svc, "zeus", 5)
    assert svc.train_from_outcome(ids[0])["coalesced"] == 2
    # Outcomes whose dispatch was skipped while this task was pending are its to train.
    again = svc.train_from_outcome(ids[1])
    assert again.status == "duplicate"
    assert again.coalesced == 2  # one chunk of the backlog (the budget is zero here)
    assert again.next_outcome_id == ids[4]
    assert _kernel(svc, "zeus").step_count == 2


def test_duplicate_out_of_time_queues_a_follow_up(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(online_coalesce_max=2)
    ids = add(svc, "zeus", 5)
    svc.train_from_outcome(ids[0])
    asked: list[tuple[str, int]] = []

    def follow_up(god: str, outcome_id: int) -> str:
        asked.append((god, outcome_id))
        return "task-next"

    again = svc.train_from_outcome(ids[1], follow_up=follow_up)
    assert asked == [("zeus", ids[4])]
    assert again.follow_up_task_id == "task-next"


def test_before_claim_hook_runs_once_before_the_claim(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service()
    ids = add(svc, "zeus", 3)
    seen: list[tuple[str, int]] = []
    svc.train_from_outcome(
        ids[0], before_claim=lambda god: seen.append((god, _marked(svc, "trained_online_at")))
    )
    assert seen == [("zeus", 0)]  # nothing of the god claimed yet when the hook ran
    assert _marked(svc, "trained_online_at") == 3
