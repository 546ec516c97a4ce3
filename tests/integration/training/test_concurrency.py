"""Two processes training the same god at once: no lost update, no row trained twice."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pantheon.store import kernels as kernel_rows
from pantheon.store.models import outcomes, training_history
from pantheon.training.intake import OutcomeIn, ingest
from pantheon.training.service import TrainingService
from tests.integration.training import procs

pytestmark = pytest.mark.integration

N = 40


def _ingest(svc: TrainingService, god: str, n: int) -> list[int]:
    items = [
        OutcomeIn(god_name=god, prompt=f"question {i} for {god}", response="a", success=i % 3 == 0)
        for i in range(n)
    ]
    return ingest(svc, items).outcome_ids


def _two(fn: Callable[..., Any], *calls: tuple[Any, ...]) -> list[Any]:
    """Run ``fn`` in two spawned processes that start their work at the same moment."""
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        barrier = manager.Barrier(2)
        futures = [pool.submit(fn, *args, barrier) for args in calls]
        return [f.result(timeout=180) for f in futures]


def _state(svc: TrainingService, name: str) -> kernel_rows.KernelRecord:
    with svc.database.session(write=False) as s:
        record = kernel_rows.read(s, name)
    assert record is not None
    return record


def _unmarked(svc: TrainingService, column: str) -> int:
    with svc.database.session(write=False) as s:
        return int(
            s.execute(sa.select(sa.func.count()).where(outcomes.c[column].is_(None))).scalar_one()
        )


def test_two_processes_one_step_each_sum_their_step_counts(
    make_service: Callable[..., TrainingService], database_url: str, tmp_path: Path
) -> None:
    svc = make_service(online_coalesce_max=1)
    ids = _ingest(svc, "zeus", N)
    svc.get_kernel("zeus")  # both processes find the row; creation races are tested below
    overrides = {"online_coalesce_max": 1}
    # Both processes try every outcome, in opposite orders: every id is contended.
    a, b = _two(
        procs.train_outcomes,
        (database_url, str(tmp_path), ids, overrides),
        (database_url, str(tmp_path), ids[::-1], overrides),
    )
    statuses = [r["status"] for r in a + b]
    assert statuses.count("success") == N
    assert statuses.count("duplicate") == N
    if svc.database.is_postgresql:
        # Row locks are fair: both processes trained, meeting in the middle of the list.
        # (SQLite's busy handler is not fair: one writer may take every turn.)
        assert any(r["status"] == "success" for r in a)
        assert any(r["status"] == "success" for r in b)
    record = _state(svc, "zeus")
    assert record.step_count == N  # no update lost
    assert record.version == N + 1
    assert record.outcomes_trained == N
    assert _unmarked(svc, "trained_online_at") == 0
    with svc.database.session(write=False) as s:
        rows = s.execute(
            sa.select(training_history.c.outcomes).where(training_history.c.timescale == "online")
        ).scalars()
        assert list(rows) == [1] * N
    trained_by = {r["outcome_id"] for r in a + b if r["status"] == "success"}
    assert trained_by == set(ids)


def test_two_processes_coalescing_train_each_outcome_once(
    make_service: Callable[..., TrainingService], database_url: str, tmp_path: Path
) -> None:
    svc = make_service()
    ids = _ingest(svc, "athena", N * 3)
    overrides = {"online_coalesce_max": 7, "online_drain_seconds": 0.5}
    # Follow-ups as the worker sends them: under load a drain can run out of time.
    a, b = _two(
        procs.train_outcomes_following,
        (database_url, str(tmp_path), ids[::9], overrides),
        (database_url, str(tmp_path), ids[4::9], overrides),
    )
    # A duplicate trains its god's backlog too: every result counts what it trained.
    assert sum(r.coalesced for r in a + b) == N * 3  # each outcome exactly once
    record = _state(svc, "athena")
    assert record.outcomes_trained == N * 3
    with svc.database.session(write=False) as s:
        steps = s.execute(
            sa.select(sa.func.count(), sa.func.sum(training_history.c.outcomes)).where(
                training_history.c.timescale == "online"
            )
        ).one()
    assert record.step_count == steps[0]
    assert steps[1] == N * 3
    assert _unmarked(svc, "trained_online_at") == 0


def test_two_processes_hourly_batches_share_no_row(
    make_service: Callable[..., TrainingService], database_url: str, tmp_path: Path
) -> None:
    svc = make_service()
    _ingest(svc, "hera", 300)
    a, b = _two(
        procs.hourly_batch,
        (database_url, str(tmp_path), "hera", 25),
        (database_url, str(tmp_path), "hera", 25),
    )
    assert a["batch_size"] + b["batch_size"] == 300
    assert _unmarked(svc, "batch_processed_at") == 0
    god, shadow = _state(svc, "hera"), _state(svc, "hera_shadow")
    assert god.step_count == a["steps"] + b["steps"]
    assert shadow.step_count * 3 == god.step_count  # one pass per batch to the god's three
    with svc.database.session(write=False) as s:
        chunks = s.execute(
            sa.select(sa.func.sum(training_history.c.outcomes)).where(
                training_history.c.timescale == "hourly_batch",
                training_history.c.kernel_name == "hera",
            )
        ).scalar_one()
    assert chunks == 300


def test_kernel_creation_race_creates_one_row(
    make_service: Callable[..., TrainingService], database_url: str, tmp_path: Path
) -> None:
    svc = make_service(online_coalesce_max=1)
    ids = _ingest(svc, "hermes", 6)
    overrides = {"online_coalesce_max": 1}
    a, b = _two(
        procs.train_outcomes,
        (database_url, str(tmp_path), ids[:3], overrides),
        (database_url, str(tmp_path), ids[3:], overrides),
    )
    assert all(r["status"] == "success" for r in a + b)
    assert _state(svc, "hermes").step_count == 6
