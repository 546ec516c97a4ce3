"""``pantheon worker`` and ``pantheon beat`` over the real training service and PostgreSQL:
registration, Beat runs in ``schedule_runs``, the same results in celery and sync mode, and
celery mode coming back on its own when the broker returns."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from pantheon.config import Settings
from pantheon.store.migrate import ensure_schema
from pantheon.store.schedule_runs import ScheduleRuns
from pantheon.testing import Switchable, free_port, wait_until
from pantheon.training.intake import OutcomeIn, ingest
from pantheon.training.service import TrainingService
from pantheon.worker import queues
from pantheon.worker.dispatch import Dispatcher
from pantheon.worker.tasks import Result
from tests.e2e.worker.conftest import Cluster

pytestmark = pytest.mark.e2e

REAL_APP = "pantheon.worker.celery_app"
OUTCOMES = [
    {"god_name": god, "prompt": prompt, "response": "an answer", "success": ok, "phi": phi}
    for god, prompt, ok, phi in [
        ("zeus", "plan the campaign", True, 0.9),
        ("athena", "prove the lemma", True, 0.8),
        ("zeus", "settle the dispute", False, 0.2),
        ("hermes", "translate this letter", True, 0.6),
        ("athena", "find the flaw in the argument", False, 0.4),
        ("zeus", "choose a strategy", True, 0.7),
    ]
]


def _service(settings: Settings) -> TrainingService:
    ensure_schema(settings)
    return TrainingService(settings)


def _train_all(dispatcher: Dispatcher, service: TrainingService) -> list[dict[str, Any]]:
    """Store then train each outcome in turn, waiting for each result (no coalescing)."""
    out = []
    for item in OUTCOMES:
        outcome_id = ingest(service, [OutcomeIn.parse(item)]).new_ids[0]
        sent = dispatcher.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=outcome_id)
        result = sent.result or cast(
            Result, dispatcher.get_task_result(str(sent.task_id), 60)["result"]
        )
        out.append({"mode": sent.mode, **result})
    return out


def _kernel_arrays(service: TrainingService, god: str) -> dict[str, Any]:
    return dict(service.get_kernel(god).state_dict()["arrays"])


def test_cli_worker_and_beat_on_postgres(make_cluster: Any, postgres_url: str) -> None:
    cluster: Cluster = make_cluster(
        DATABASE_URL=postgres_url,
        PANTHEON_SCHEDULE_HOURLY="every:2",
        PANTHEON_SCHEDULE_OUTBOX="every:2",
        PANTHEON_OUTBOX_SWEEP_AFTER="0",
    )
    settings = cluster.settings()
    service = _service(settings)
    worker = cluster.pantheon("worker", "worker")
    worker.wait_for_log("ready.", timeout=60)
    assert (
        "queues=training_fast,training_batch,training_slow,celery concurrency=2"
        in worker.log_text()
    )
    registered = cluster.celery_cli("inspect", "registered", "--timeout", "5", app=REAL_APP)
    assert all(name in registered for name in queues.TASK_QUEUES), registered

    # Stored but never dispatched (as when the broker was down): the Beat-driven sweep trains it.
    ingest(service, [OutcomeIn.parse(OUTCOMES[0])])
    beat = cluster.pantheon("beat", "beat")
    beat.wait_for_log("Acquired lock", timeout=30)
    runs = ScheduleRuns(service.database)
    wait_until(lambda: len(runs.recent("hourly_batch")) >= 3, timeout=40)
    hourly = runs.recent("hourly_batch")
    assert len({r["slot"] for r in hourly}) == len(hourly)
    assert {r["status"] for r in hourly} <= {"success", "running"}
    done = [r for r in hourly if r["status"] == "success"]
    assert done
    assert all(cast(dict[str, Any], r["result"])["covered_slots"] for r in done)

    # the lost outcome was trained by a Beat-driven sweep through the worker

    wait_until(lambda: not service.pending_online(0, 10), timeout=30)
    assert service.get_kernel("zeus").step_count >= 1
    assert runs.recent("outbox_sweep") == []  # the sweep does not log its slots
    assert "outbox sweep" in worker.log_text()


def test_celery_and_sync_train_the_same_and_celery_resumes(
    make_cluster: Any, postgres_url: str, redis_url: str, tmp_path: Any
) -> None:
    cluster: Cluster = make_cluster(DATABASE_URL=postgres_url)
    celery_service = _service(cluster.settings())
    cluster.pantheon("worker", "worker").wait_for_log("ready.", timeout=60)
    celery_dispatcher = Dispatcher(cluster.settings(), celery_service)
    wait_until(celery_dispatcher.celery_available, timeout=20)
    via_celery = _train_all(celery_dispatcher, celery_service)
    assert {r["mode"] for r in via_celery} == {"celery"}

    dead = f"redis://127.0.0.1:{free_port()}/0"
    sync_settings = Settings(
        env="test",
        data_dir=tmp_path / "sync",
        database_url_raw=f"sqlite:///{tmp_path / 'sync.db'}",
        redis_url=dead,
        task_mode="auto",
    )
    sync_service = _service(sync_settings)
    via_sync = _train_all(Dispatcher(sync_settings, sync_service), sync_service)
    assert {r["mode"] for r in via_sync} == {"sync"}
    keys = ("god_name", "status", "loss", "reward", "phi_before", "phi_after", "step_count")
    for a, b in zip(via_celery, via_sync, strict=True):
        assert {k: a[k] for k in keys} == pytest.approx({k: b[k] for k in keys})
    for god in ("zeus", "athena", "hermes"):
        left, right = _kernel_arrays(celery_service, god), _kernel_arrays(sync_service, god)
        for name in left:
            assert left[name] == pytest.approx(right[name]), (god, name)

    # The web's broker goes away and comes back; the worker stays connected throughout.
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].split(":")
    proxy = Switchable(host, int(port))
    proxy.on()
    db_number = redis_url.rsplit("/", 1)[1]
    through = cluster.settings().model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{proxy.port}/{db_number}",
            "celery_broker_url_raw": None,
            "celery_result_backend_raw": None,
            "mode_cache_seconds": 0.5,
        }
    )
    web = Dispatcher(through, celery_service)
    wait_until(lambda: web.mode_for(queues.TRAIN_FROM_OUTCOME) == "celery", timeout=20)
    proxy.off()
    wait_until(lambda: web.mode_for(queues.TRAIN_FROM_OUTCOME) == "sync", timeout=20)
    stored = ingest(celery_service, [OutcomeIn.parse({**OUTCOMES[1], "prompt": "offline"})])
    offline = web.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=stored.new_ids[0])
    assert offline.mode == "sync"
    assert offline.result is not None
    proxy.on()
    back_at = time.monotonic()
    wait_until(lambda: web.mode_for(queues.TRAIN_FROM_OUTCOME) == "celery", timeout=30)
    waited = time.monotonic() - back_at
    print(f"celery mode resumed {waited:.1f}s after the broker came back")
    stored = ingest(celery_service, [OutcomeIn.parse({**OUTCOMES[2], "prompt": "online again"})])
    online = web.dispatch(queues.TRAIN_FROM_OUTCOME, outcome_id=stored.new_ids[0])
    assert online.mode == "celery"
    assert web.get_task_result(str(online.task_id), 30)["state"] == "SUCCESS"
    proxy.off()
