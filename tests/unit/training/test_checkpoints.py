from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pantheon.clock import utcnow
from pantheon.errors import CheckpointError, NotFoundError, UnknownGodError, ValidationError
from pantheon.learning.coordizer import coordize
from pantheon.store.models import checkpoints, kernels
from pantheon.training import queries
from pantheon.training.results import CheckpointResult, Disabled, RestoreResult
from pantheon.training.service import TrainingService
from tests.unit.training.conftest import add

pytestmark = pytest.mark.unit

PROBE = coordize("prompt number 2 about zeus")


def written(result: CheckpointResult | Disabled) -> CheckpointResult:
    """A save's result with training on, typed (these tests never turn training off)."""
    assert isinstance(result, CheckpointResult), result
    return result


def restored_to(result: RestoreResult | Disabled) -> RestoreResult:
    """A restore's result with training on, typed."""
    assert isinstance(result, RestoreResult), result
    return result


def test_save_is_deduplicated_per_version(svc: TrainingService) -> None:
    first = written(svc.save_checkpoint("Zeus"))
    assert first["status"] == "success"
    assert first.uri.startswith("file://zeus/")
    assert svc.save_checkpoint("zeus")["status"] == "duplicate"
    assert svc.save_checkpoint("zeus", trigger="hourly_batch")["status"] == "success"
    add(svc, "zeus", 3)
    svc.train_from_outcome(1)
    assert svc.save_checkpoint("zeus")["version"] == first.version + 1
    assert svc.save_checkpoint("zeus_shadow")["god_name"] == "zeus_shadow"
    with pytest.raises(ValidationError):
        svc.save_checkpoint("zeus", trigger="whenever")
    with pytest.raises(UnknownGodError):
        svc.save_checkpoint("odin")


def test_restore_makes_a_new_live_version(svc: TrainingService) -> None:
    add(svc, "zeus", 6)
    saved = written(svc.save_checkpoint("zeus"))
    before = svc.get_kernel("zeus").predict_one(PROBE).p_success
    svc.train_from_outcome(1)
    svc.train_hourly_batch("zeus")
    assert svc.get_kernel("zeus").predict_one(PROBE).p_success != pytest.approx(before)
    restored = restored_to(svc.restore_checkpoint(saved.checkpoint_id))
    assert restored["status"] == "success"
    assert restored.version > saved.version
    assert svc.get_kernel("zeus").predict_one(PROBE).p_success == pytest.approx(before)
    undo = restored["previous_checkpoint_id"]
    assert undo is not None
    assert {c["trigger"] for c in queries.list_checkpoints(svc, "zeus")} >= {"manual", "restore"}
    with pytest.raises(NotFoundError):
        svc.restore_checkpoint(9999)


@pytest.mark.parametrize("checkpoint_id", [0, -1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30])
def test_restore_of_an_id_no_row_can_have_is_not_found(
    svc: TrainingService, checkpoint_id: int
) -> None:
    # The service's own rule, not only the API's path bound: a driver that cannot bind the
    # id (SQLite: OverflowError) must not turn an embedded caller's typo into a crash.
    written(svc.save_checkpoint("zeus"))
    with pytest.raises(NotFoundError):
        svc.restore_checkpoint(checkpoint_id)


def test_restore_refuses_tampered_blob(svc: TrainingService) -> None:
    saved = written(svc.save_checkpoint("zeus"))
    path = svc.settings.checkpoint_dir / saved.uri.removeprefix("file://")
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CheckpointError):
        svc.restore_checkpoint(saved.checkpoint_id)


def test_restore_refuses_uris_the_store_does_not_know(svc: TrainingService) -> None:
    saved = written(svc.save_checkpoint("zeus"))
    for uri, error in (("file://../../etc/passwd", NotFoundError), ("s3://x/y", ValidationError)):
        with svc.database.session() as s:
            s.execute(sa.update(checkpoints).values(uri=uri))
        with pytest.raises(error):
            svc.restore_checkpoint(saved.checkpoint_id)


def test_missing_kernel_is_restored_from_newest_good_checkpoint(svc: TrainingService) -> None:
    add(svc, "zeus", 6)
    svc.train_hourly_batch("zeus")
    svc.save_checkpoint("zeus")
    trained = svc.get_kernel("zeus").predict_one(PROBE).p_success
    svc.train_from_outcome(1)
    newest = written(svc.save_checkpoint("zeus"))
    # Corrupt the newest blob: the restore must fall back to the older good one.
    path = svc.settings.checkpoint_dir / newest.uri.removeprefix("file://")
    path.write_bytes(b"garbage")
    with svc.database.session() as s:
        s.execute(sa.delete(kernels).where(kernels.c.name == "zeus"))
    svc.kernels.forget()
    assert svc.get_kernel("zeus").predict_one(PROBE).p_success == pytest.approx(trained)
    info = queries.get_kernel_info(svc, "zeus")
    assert info["exists"]
    assert info["step_count"] > 0


def test_cleanup_keeps_newest_pinned_and_young(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(checkpoint_keep=2, checkpoint_keep_days=1.0, online_coalesce_max=1)
    outcome_ids = add(svc, "zeus", 5)
    ids = []
    for oid in outcome_ids:
        svc.train_from_outcome(oid)  # one outcome per step: a new version each time
        ids.append(svc.save_checkpoint("zeus")["checkpoint_id"])
    assert len(set(ids)) == 5
    old = utcnow() - timedelta(days=3)
    with svc.database.session() as s:
        s.execute(sa.update(checkpoints).values(created_at=old))
        s.execute(sa.update(checkpoints).where(checkpoints.c.id == ids[0]).values(pinned=True))
        s.execute(
            sa.update(checkpoints)
            .where(checkpoints.c.id == ids[1])
            .values(created_at=utcnow() - timedelta(hours=3))
        )
        s.execute(
            sa.update(checkpoints)
            .where(checkpoints.c.id.in_(ids[3:]))
            .values(created_at=utcnow() - timedelta(hours=1))
        )
    result = svc.cleanup_old_checkpoints()
    assert result["status"] == "success"
    assert result["deleted"] == 1
    assert result["kept"] == 4
    assert result["blobs_deleted"] == 1
    left = {c["id"] for c in queries.list_checkpoints(svc)}
    assert left == {ids[0], ids[1], ids[3], ids[4]}
    assert len(svc.store.list_uris()) == 4


def test_cleanup_sweeps_old_orphan_blobs_only(svc: TrainingService) -> None:
    svc.save_checkpoint("zeus")
    young = svc.store.put("zeus/orphan-young.ckpt", b"x")
    old = svc.store.put("zeus/orphan-old.ckpt", b"x")
    path = svc.settings.checkpoint_dir / old.removeprefix("file://")
    past = time.time() - 3 * 3600
    os.utime(path, (past, past))
    result = svc.cleanup_old_checkpoints()
    assert result["orphans_deleted"] == 1
    uris = svc.store.list_uris()
    assert young in uris
    assert old not in uris
    assert len(uris) == 2
