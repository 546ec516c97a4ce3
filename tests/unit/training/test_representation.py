"""Basins are computed where outcomes train, once; kernels follow the coordizer version."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
import pytest
import sqlalchemy as sa

from pantheon.errors import RepresentationMismatchError
from pantheon.learning import coordizer
from pantheon.learning.coordizer_kind import CoordizerKind
from pantheon.store.basins import decode_basins
from pantheon.store.models import kernels, outcomes, training_history
from pantheon.training import queries, representation, routing
from pantheon.training.encoding import BasinCache, current_version, encode_prompts
from pantheon.training.intake import ingest
from pantheon.training.service import TrainingService
from tests.fakes.coordizer import Counting, Encode, pin_version
from tests.unit.training.conftest import add, outcome

pytestmark = pytest.mark.unit


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Counting:
    spy = Counting(coordizer.coordize_many)
    monkeypatch.setattr(coordizer, "coordize_many", spy)
    return spy


def _new_coordizer(monkeypatch: pytest.MonkeyPatch, inner: Encode) -> Counting:
    """A different coordizer version (rolled coordinates: a different representation)."""
    spy = Counting(inner, shift=7)
    monkeypatch.setattr(coordizer, "coordize_many", spy)
    pin_version(monkeypatch, "test-coordizer-2")
    return spy


def _basin_rows(svc: TrainingService) -> list[tuple[int, bytes | None, str | None]]:
    with svc.database.session(write=False) as s:
        stmt = sa.select(outcomes.c.id, outcomes.c.basin, outcomes.c.coordizer_version)
        return [(int(i), b, v) for i, b, v in s.execute(stmt.order_by(outcomes.c.id))]


def test_intake_never_encodes(svc: TrainingService, counting: Counting) -> None:
    add(svc, "zeus", 5)
    ingest(svc, [outcome("hera", i) for i in range(20)])
    assert counting.calls == []
    assert all(b is None and v is None for _i, b, v in _basin_rows(svc))


def test_training_fills_basins_once_in_one_call_per_claim(
    svc: TrainingService, counting: Counting
) -> None:
    ids = add(svc, "zeus", 6)
    result = svc.train_from_outcome(ids[0])
    assert result["coalesced"] == 6
    assert len(counting.calls) == 1  # one coordize_many for the whole claim
    assert sorted(counting.prompts) == sorted(f"prompt number {i} about zeus" for i in range(6))
    rows = _basin_rows(svc)
    assert all(v == current_version() for _i, _b, v in rows)
    want = counting.inner([f"prompt number {i} about zeus" for i in range(6)])
    np.testing.assert_allclose(decode_basins([b for _i, b, _v in rows if b]), want, rtol=1e-6)
    svc.train_hourly_batch("zeus")
    svc.train_nightly_consolidation("zeus")
    assert len(counting.calls) == 1  # later timescales find the stored basins


def test_the_hourly_batch_fills_what_online_did_not(
    svc: TrainingService, counting: Counting
) -> None:
    add(svc, "zeus", 4)
    add(svc, "hera", 3)
    svc.train_hourly_batch("zeus")
    assert len(counting.calls) == 1
    assert len(counting.prompts) == 4
    by_id = {i: v for i, _b, v in _basin_rows(svc)}
    assert sorted(v for v in by_id.values() if v) == [current_version()] * 4


def test_a_repeated_prompt_is_encoded_once_per_process(
    svc: TrainingService, counting: Counting
) -> None:
    same = "What is the capital of France?"
    ingest(svc, [outcome(g, 0, prompt=same) for g in ("zeus", "hera", "athena")])
    for god in ("zeus", "hera", "athena"):
        svc.train_hourly_batch(god)
    assert counting.prompts == [same]
    routing.rank(svc, same)  # routing reads the same cache
    assert counting.prompts == [same]


def test_a_routed_prompt_is_stored_with_its_basin_at_intake(
    svc: TrainingService, counting: Counting
) -> None:
    routing.rank(svc, "a prompt routed first")
    ingest(svc, [outcome("zeus", 0, prompt="a prompt routed first")])
    ((_i, blob, version),) = _basin_rows(svc)
    assert blob is not None
    assert version == current_version()
    assert len(counting.calls) == 1


def test_basin_cache_is_bounded_and_keyed_by_version() -> None:
    cache = BasinCache(size=2)
    for text in ("a", "b", "c"):
        cache.put("v1", text, text.encode())
    assert len(cache) == 2
    assert cache.get("v1", "a") is None
    assert cache.get("v1", "c") == b"c"
    assert cache.get("v2", "c") is None
    assert BasinCache(size=0).get("v1", "c") is None


def test_encode_prompts_encodes_each_distinct_prompt_once(counting: Counting) -> None:
    blobs = encode_prompts(["x", "y", "x"], BasinCache(8))
    assert counting.calls == [["x", "y"]]
    assert blobs[0] == blobs[2] != blobs[1]


def test_a_basin_of_another_version_is_recomputed_before_training(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add(svc, "zeus", 3)
    with svc.database.session() as s:  # basins made by some older coordizer
        s.execute(
            sa.update(outcomes).values(
                basin=np.zeros((64,), "<f4").tobytes(), coordizer_version="old"
            )
        )
    spy = Counting(coordizer.coordize_many)
    monkeypatch.setattr(coordizer, "coordize_many", spy)
    svc.train_from_outcome(ids[0])
    assert len(spy.prompts) == 3
    assert {v for _i, _b, v in _basin_rows(svc)} == {current_version()}


def test_a_stale_kernel_is_refused_for_training_and_routing(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add(svc, "zeus", 8)
    svc.train_from_outcome(ids[0])
    svc.train_hourly_batch("zeus")
    trained = routing.rank(svc, "prompt number 2 about zeus", candidates=["zeus"])[0]
    fresh_prior = routing.rank(svc, "prompt number 2 about zeus", candidates=["hera"])[0]
    assert trained["p_success"] != pytest.approx(fresh_prior["p_success"])
    before = current_version()
    _new_coordizer(monkeypatch, coordizer.coordize_many)
    new = add(svc, "zeus", 1, start=100)
    with pytest.raises(RepresentationMismatchError) as caught:
        svc.train_from_outcome(new[0])
    assert caught.value.status_code == 409
    assert "pantheon db recoordize" in caught.value.message
    assert "test-coordizer-2" in caught.value.message
    with pytest.raises(RepresentationMismatchError):
        svc.train_hourly_batch("zeus")
    # Nothing was marked: the new outcome still waits, durable.
    with svc.database.session(write=False) as s:
        row = s.execute(sa.select(outcomes).where(outcomes.c.id == new[0])).one()
    assert row.trained_online_at is None
    # Routing uses the prior for the stale kernel, never its old weights.
    stale_route = routing.rank(svc, "prompt number 2 about zeus", candidates=["zeus", "hera"])
    by_god = {r["god_name"]: r for r in stale_route}
    assert by_god["zeus"]["p_success"] == pytest.approx(by_god["hera"]["p_success"])
    info = queries.get_kernel_info(svc, "zeus")
    assert info["stale"] is True
    assert info["coordizer_version"] == before
    state = representation.status(svc, count_basins=True)
    assert {"zeus", "zeus_shadow"} <= set(state.stale_kernels)
    # The refused batch had already encoded its pending row (before the kernel lock).
    assert (state.basins_missing, state.basins_other_version) == (0, 8)


def test_recoordize_converts_rebuilds_and_is_idempotent(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add(svc, "zeus", 10)
    add(svc, "hera", 4)
    svc.train_from_outcome(ids[0])
    svc.train_hourly_batch("zeus")
    pending = add(svc, "zeus", 2, start=50)  # stored, never trained before the switch
    spy = _new_coordizer(monkeypatch, coordizer.coordize_many)
    progress: list[tuple[str, int, int]] = []
    result = representation.recoordize(svc, lambda *a: progress.append(a))
    assert result.coordizer_version == "test-coordizer-2"
    assert result.basins_written == 16
    assert len(spy.prompts) == 16  # every stored prompt once
    assert "zeus" in result.kernels_rebuilt
    assert "zeus_shadow" in result.kernels_rebuilt
    assert progress[-1] == ("kernels", len(result.kernels_rebuilt), len(result.kernels_rebuilt))
    assert ("basins", 16, 16) in progress
    assert {v for _i, _b, v in _basin_rows(svc)} == {"test-coordizer-2"}
    # The rebuilt god learned its 10 trained outcomes (3 passes); the shadow its 10 too.
    with svc.database.session(write=False) as s:
        rebuilt = s.execute(
            sa.select(training_history.c.kernel_name, training_history.c.outcomes).where(
                training_history.c.timescale == "restore"
            )
        ).all()
        versions = dict(s.execute(sa.select(kernels.c.name, kernels.c.coordizer_version)).all())
    assert dict(rebuilt)["zeus"] == 10
    assert dict(rebuilt)["zeus_shadow"] == 10
    assert set(versions.values()) == {"test-coordizer-2"}
    assert not queries.get_kernel_info(svc, "zeus")["stale"]
    # Idempotent: nothing left to encode or rebuild.
    again = representation.recoordize(svc)
    assert again.basins_written == 0
    assert again.kernels_rebuilt == []
    assert len(spy.prompts) == 16
    # Training resumes: the pending outcomes train once, on the stored new basins.
    done = svc.train_from_outcome(pending[0])
    assert done["status"] == "success"
    assert done["coalesced"] == 2
    assert len(spy.prompts) == 16


def test_restore_refuses_a_checkpoint_of_another_coordizer(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(svc, "zeus", 4)
    svc.train_hourly_batch("zeus")
    saved = svc.save_checkpoint("zeus")
    _new_coordizer(monkeypatch, coordizer.coordize_many)
    representation.recoordize(svc)
    with pytest.raises(RepresentationMismatchError, match="cannot be restored") as caught:
        svc.restore_checkpoint(cast(int, saved["checkpoint_id"]))
    assert caught.value.details["checkpoint_id"] == saved["checkpoint_id"]
    # A checkpoint made under the new version restores.
    fresh = svc.save_checkpoint("zeus", trigger="hourly_batch")
    assert svc.restore_checkpoint(cast(int, fresh["checkpoint_id"]))["status"] == "success"


def test_a_missing_kernel_is_not_restored_from_a_checkpoint_of_another_coordizer(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(svc, "zeus", 4)
    svc.train_hourly_batch("zeus")
    svc.save_checkpoint("zeus")
    with svc.database.session() as s:
        s.execute(sa.delete(kernels).where(kernels.c.name == "zeus"))
    svc.kernels.forget()
    _new_coordizer(monkeypatch, coordizer.coordize_many)
    kernel = svc.get_kernel("zeus")
    assert kernel.step_count == 0
    with svc.database.session(write=False) as s:
        row = s.execute(sa.select(kernels).where(kernels.c.name == "zeus")).one()
    assert row.coordizer_version == "test-coordizer-2"
    assert row.metrics["origin"] == "fresh"


def test_the_hourly_batch_heals_stale_kernels_within_its_budget(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(svc, "zeus", 6)
    svc.train_hourly_batch("zeus")
    assert "recoordize" not in svc.train_hourly_batch_all()  # nothing stale: no extra work
    _new_coordizer(monkeypatch, coordizer.coordize_many)
    add(svc, "zeus", 3, start=10)
    assert representation.heal(svc, budget_seconds=0.0) == {
        "basins_written": 0,
        "finished": False,
        "kernels_rebuilt": [],
    }
    assert "zeus" in representation.status(svc).stale_kernels
    result = svc.train_hourly_batch_all()
    healed = cast(dict[str, object], result["recoordize"])  # representation.heal()'s dict
    assert healed["finished"] is True
    assert healed["basins_written"] == 9
    assert {"zeus", "zeus_shadow"} <= set(cast(list[str], healed["kernels_rebuilt"]))
    assert cast(dict[str, dict[str, object]], result["results"])["zeus"]["batch_size"] == 3
    assert result["failed"] == []
    assert representation.status(svc).stale_kernels == []


def test_the_hourly_batch_encodes_its_chunk_in_pages_before_locking(
    make_service: Callable[..., TrainingService], counting: Counting
) -> None:
    svc = make_service(recoordize_batch=8)
    add(svc, "zeus", 30)
    locked_during: list[int] = []
    real_lock = svc.kernels.lock

    def spying_lock(session, name, **kw):  # type: ignore[no-untyped-def]
        locked_during.append(len(counting.calls))
        return real_lock(session, name, **kw)

    svc.kernels.lock = spying_lock  # type: ignore[method-assign]
    assert svc.train_hourly_batch("zeus")["batch_size"] == 30
    assert [len(c) for c in counting.calls] == [8, 8, 8, 6]  # pages, each prompt once
    assert locked_during[0] == 4  # every page was encoded before the kernel lock


def test_the_hourly_prefill_reads_the_whole_queue_only_during_a_coordizer_change(
    svc: TrainingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add(svc, "zeus", 4)
    svc.train_from_outcome(ids[0])  # online training stores 4 basins; the kernels are current
    add(svc, "zeus", 2, start=10)  # 2 rows not yet trained online: no basin
    with svc.database.session() as s:  # a process of an older release wrote this one
        s.execute(
            sa.update(outcomes)
            .where(outcomes.c.id == ids[1])
            .values(basin=np.zeros((64,), "<f4").tobytes(), coordizer_version="old")
        )
    # Steady state: the prefill follows the rows pending online; the old basin is left
    # to the claim, which encodes it before training on it.
    assert representation.prefill_batch(svc, "zeus", 100) == 2
    assert svc.train_hourly_batch("zeus")["batch_size"] == 6
    assert {v for _i, _b, v in _basin_rows(svc)} == {current_version()}

    # Rows trained online and queued for the hourly batch when the coordizer changes:
    # their basins are of the old version, and the prefill reads the whole queue.
    later = add(svc, "zeus", 3, start=20)
    svc.train_from_outcome(later[0])
    spy = _new_coordizer(monkeypatch, coordizer.coordize_many)
    assert "zeus" in representation.status(svc).stale_kernels
    assert representation.prefill_batch(svc, "zeus", 100) == 3
    assert len(spy.prompts) == 3


def test_the_coordizer_setting_switches_the_process_and_recoordize_follows(
    make_service: Callable[..., TrainingService],
) -> None:
    """``PANTHEON_COORDIZER=static`` on the same database: the encoder's kernels are stale
    until recoordize rebuilds them on static basins; the encoder setting switches back."""
    encoder_svc = make_service()
    encoder_version = current_version()
    ids = add(encoder_svc, "zeus", 6)
    encoder_svc.train_from_outcome(ids[0])
    try:
        static_svc = make_service(coordizer="static")
        assert coordizer.running() is CoordizerKind.STATIC
        static_version = current_version()
        assert static_version != encoder_version
        assert static_version.startswith(coordizer.METHODS[CoordizerKind.STATIC])
        assert queries.get_kernel_info(static_svc, "zeus")["stale"]
        result = representation.recoordize(static_svc)
        assert result.coordizer_version == static_version
        assert result.basins_written == 6
        assert "zeus" in result.kernels_rebuilt
        assert {v for _i, _b, v in _basin_rows(static_svc)} == {static_version}
        assert not queries.get_kernel_info(static_svc, "zeus")["stale"]
    finally:
        make_service()  # the default setting: the encoder again
    assert coordizer.running() is CoordizerKind.ENCODER
    assert current_version() == encoder_version


def test_the_coordizer_setting_accepts_only_known_kinds(make_settings) -> None:  # type: ignore[no-untyped-def]
    assert make_settings(coordizer="static").coordizer is CoordizerKind.STATIC
    assert make_settings().coordizer is CoordizerKind.ENCODER
    with pytest.raises(ValueError, match="coordizer"):
        make_settings(coordizer="bert")
