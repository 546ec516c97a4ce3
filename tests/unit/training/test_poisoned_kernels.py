"""A kernel can never be poisoned through the service, and an operator can always get back
to the last good checkpoint (issue 14, item 5)."""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import pytest
import sqlalchemy as sa

from pantheon.errors import TransferError, ValidationError
from pantheon.learning import checkpoint
from pantheon.learning.kernel import Kernel
from pantheon.store.models import kernels
from pantheon.training import queries
from pantheon.training.service import TrainingService
from pantheon.worker import queues
from pantheon.worker.tasks import TaskEnv, run_task
from tests.unit.training.conftest import add

pytestmark = pytest.mark.unit


def live_version(svc: TrainingService, name: str) -> int:
    return int(queries.get_kernel_info(svc, name)["version"])


@pytest.mark.parametrize("mutation", [1e308, 1e10, 1e3])
def test_transfer_with_a_saturating_mutation_is_refused(
    svc: TrainingService, mutation: float
) -> None:
    add(svc, "zeus", 6)
    svc.train_from_outcome(1)
    before = live_version(svc, "athena")
    with pytest.raises(TransferError, match="mutation"):
        svc.knowledge_transfer("evolution", "zeus", "athena", extra_params={"mutation": mutation})
    assert live_version(svc, "athena") == before


@pytest.mark.parametrize(
    "extra",
    [{"colour": "red"}, {"keep_source": "no"}, {"partner": None, "x": 1}, {"mutation": math.nan}],
)
def test_task_arguments_get_the_routes_checks(svc: TrainingService, extra: object) -> None:
    kwargs = {
        "transfer_type": "evolution",
        "source_god": "zeus",
        "target_god": "athena",
        "extra_params": extra,
    }
    with pytest.raises(ValidationError):
        run_task(queues.KNOWLEDGE_TRANSFER, TaskEnv(svc, svc.settings), kwargs)


def _poison_live_state(svc: TrainingService, name: str, blob: bytes) -> None:
    with svc.database.session() as session:
        session.execute(sa.update(kernels).where(kernels.c.name == name).values(state=blob))
    svc.kernels.forget(name)


def _non_finite_blob(name: str) -> bytes:
    kernel = Kernel(name)
    kernel.params["w_success"][:] = np.inf  # past the guards, as an old version could write
    return checkpoint.dumps(kernel)


@pytest.mark.parametrize("blob", [b"not a checkpoint", None])
def test_restore_gets_past_a_broken_live_state(svc: TrainingService, blob: bytes | None) -> None:
    add(svc, "zeus", 6)
    svc.train_from_outcome(1)
    good = svc.save_checkpoint("zeus")
    _poison_live_state(svc, "zeus", blob if blob is not None else _non_finite_blob("zeus"))
    restored = svc.restore_checkpoint(cast(int, good["checkpoint_id"]))
    assert restored["status"] == "success"
    assert restored["previous_checkpoint_id"] is None  # nothing readable to keep
    info = queries.get_kernel_info(svc, "zeus")
    assert info["version"] == restored["version"]
    assert info["step_count"] == good["step_count"]
