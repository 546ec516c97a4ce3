"""Every Celery task's arguments, fuzzed in-process (``run_task`` is what the worker
and the in-process dispatcher both call).

Properties: a task either returns its result or raises a :class:`PantheonError` (a
permanent failure with a clear reason, or a transient one); never any other exception,
which the worker would report as an unexpected crash; and no kernel is left non-finite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantheon.errors import PantheonError
from pantheon.store import kernels as kernel_rows
from pantheon.store.db import Database
from pantheon.store.migrate import ensure_schema
from pantheon.training import queries
from pantheon.training.service import TrainingService
from pantheon.worker import queues
from pantheon.worker.tasks import TaskEnv, run_task
from tests.fuzz.strategies import json_values, maybe, nasty_numbers, nasty_text, outcomes
from tests.fuzz_profiles import count, examples

pytestmark = pytest.mark.unit

GODS = st.sampled_from(["zeus", "athena", "zeus_shadow", "odin"])
#: The arguments each task knows, each with a plausible and a hostile generator.
KNOWN: dict[str, Any] = {
    "outcome_id": maybe(st.integers(-1, 30), nasty_numbers),
    "god_name": maybe(GODS, nasty_text),
    "trigger": maybe(st.sampled_from(["manual", "hourly_batch"]), nasty_text),
    "transfer_type": maybe(st.sampled_from(["evolution", "breeding", "cannibalism"])),
    "source_god": maybe(GODS, nasty_text),
    "target_god": maybe(GODS, nasty_text),
    "transfer_ratio": maybe(st.floats(0, 1), nasty_numbers),
    "extra_params": maybe(
        st.fixed_dictionaries({}, optional={"mutation": nasty_numbers, "partner": GODS})
    ),
    "direction": maybe(st.sampled_from(["to_shadow", "to_god", "bidirectional"])),
    "ratio": maybe(st.floats(0, 1), nasty_numbers),
    "slot": maybe(st.just("2026-11-30T10:00:00+00:00"), nasty_text),
}


@st.composite
def calls(draw: Any) -> tuple[str, dict[str, Any]]:
    task = draw(st.sampled_from(sorted(queues.TASK_QUEUES)))
    if task == queues.TRAIN_FROM_OUTCOME and draw(st.booleans()):
        return task, draw(outcomes())  # the seed's own keyword form
    names = draw(st.lists(st.sampled_from(sorted(KNOWN)), max_size=4, unique=True))
    kwargs = {name: draw(KNOWN[name]) for name in names}
    if draw(st.integers(0, 6)) == 0:
        kwargs[draw(nasty_text)] = draw(json_values)
    return task, kwargs


@pytest.fixture
def service(make_settings: Any, tmp_path: Path) -> Iterator[TrainingService]:
    app_settings = make_settings(
        database_url_raw=f"sqlite:///{tmp_path / 'fuzz.db'}",
        checkpoint_dir_raw=tmp_path / "checkpoints",
        online_drain_seconds=0.0,
    )
    ensure_schema(app_settings)
    db = Database(app_settings)
    yield TrainingService(app_settings, database=db)
    db.dispose()


def test_task_arguments_fail_cleanly_and_never_poison_a_kernel(service: TrainingService) -> None:
    @settings(
        max_examples=examples(80),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(call=calls())
    def check(call: tuple[str, dict[str, Any]]) -> None:
        count("celery task calls")
        task, kwargs = call
        env = TaskEnv(service, service.settings, task_id="fuzz", send=lambda _n, _k: None)
        try:
            result = run_task(task, env, kwargs)
        except PantheonError:
            return
        assert isinstance(result, dict)

    check()
    for info in queries.list_kernels(service):
        with service.database.session(write=False) as session:
            record = kernel_rows.read(session, info["god_name"])
        if record is None:
            continue
        kernel = service.kernels.decode(record)  # refuses a non-finite state
        for arr in kernel.state_dict()["arrays"].values():
            assert np.all(np.isfinite(arr))
