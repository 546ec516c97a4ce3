"""Operations: health, schedule, queue depths, and the routing overview of the dashboard."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from pantheon import __version__
from pantheon.api.deps import AppState, ProbeTimeoutError, bearer_scheme, check_token, get_state
from pantheon.api.routes.responses import errors
from pantheon.api.schemas import (
    HealthOut,
    ProbeRoute,
    QueueDepths,
    RepresentationOut,
    RoutingOverview,
    ScheduleJob,
    ScheduleOut,
)
from pantheon.clock import utcnow
from pantheon.training import queries
from pantheon.training.routing import rank
from pantheon.worker.queues import ALL_QUEUES as QUEUES
from pantheon.worker.schedule import JOBS, describe, parse_slot

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["operations"])

#: Runs read per job to find its last success (newest first; failures are rare).
SCHEDULE_RUNS_READ = 50

#: Fixed probe prompts for the dashboard's routing view: one per broad kind of request.
PROBE_PROMPTS: tuple[str, ...] = (
    "Prove that the square root of 2 is irrational.",
    "Write a Python function that merges two sorted lists.",
    "What caused the fall of the Western Roman Empire?",
    "What are the common side effects of ibuprofen?",
    "Write a short poem about the sea at night.",
    "Translate 'where is the train station' into French and German.",
    "Is a verbal contract legally binding?",
    "Why do hurricanes form over warm oceans?",
)


def _check(state: AppState, name: str, fn: Any, timeout: float) -> tuple[Any, str | None]:
    """(answer, None) or (None, problem): never raises, never waits longer than ``timeout``."""
    try:
        return state.probe(name, fn, timeout=timeout), None
    except ProbeTimeoutError as exc:
        return None, f"{name}: {exc}"
    except Exception as exc:  # a failed probe is a health answer, not a server error
        return None, f"{name}: {type(exc).__name__}"


def schedule_rows(state: AppState) -> list[dict[str, Any]]:
    """``worker.schedule.describe`` fed from the ``schedule_runs`` ledger."""
    last_success: dict[str, datetime | None] = {}
    last_run: dict[str, dict[str, Any] | None] = {}
    for job in JOBS:
        runs = queries.schedule_runs(state.service, job.name, limit=SCHEDULE_RUNS_READ)
        done = [r["slot"] for r in runs if r.get("status") == "success"]
        last_success[job.name] = max(parse_slot(s) for s in done) if done else None
        last_run[job.name] = (
            {k: runs[0].get(k) for k in ("slot", "status", "attempts", "duration_s", "error")}
            if runs
            else None
        )
    return describe(state.settings, last_success, utcnow(), last_run)


def overdue_jobs(rows: list[dict[str, Any]], now: datetime, silence: float) -> list[str]:
    """Jobs that ran before but whose current slot is ``silence`` seconds overdue, unrecorded.

    A job that never ran is not judged (a fresh deployment waits for its first slot).
    """
    late = []
    for row in rows:
        last = (row.get("last_run") or {}).get("slot")
        if last is None or row["job"] == "outbox_sweep":  # the sweep is not logged per slot
            continue
        current = parse_slot(row["current_slot"])
        if parse_slot(last) < current and (now - current).total_seconds() > silence:
            late.append(str(row["job"]))
    return late


def _representation(state: AppState, problems: list[str]) -> RepresentationOut | None:
    """The running coordizer and the stale kernels (a problem while any is stale)."""
    found, _problem = _check(state, "representation", state.representation, 3.0)
    if found is None:
        return None
    if found.stale_kernels:
        problems.append(
            f"{len(found.stale_kernels)} kernels trained on another coordizer version "
            "(not trained or routed with): run `pantheon db recoordize`"
        )
    return RepresentationOut(
        coordizer_version=found.coordizer_version, stale_kernels=found.stale_kernels
    )


def health_report(state: AppState) -> HealthOut:
    """Database, broker, workers, Beat: each checked in bounded time and cached briefly.

    Embedded mode (``PANTHEON_TASK_MODE=sync``: ``pantheon up``, or a web service run on its
    own by choice) is healthy when its database answers: tasks run in-process by design.
    A missing worker is never cached: the next check asks the broker again, so a worker is
    seen as soon as it answers (its ``ready`` line), not a cache period later.
    """
    settings = state.settings
    problems: list[str] = []

    db_ok, problem = _check(state, "database", state.database_up, timeout=3.0)
    database = "ok" if problem is None and db_ok is not False else "down"
    if database == "down":
        problems.append(problem or "database: ping failed")
    representation = _representation(state, problems) if database == "ok" else None
    stale = representation is not None and bool(representation.stale_kernels)

    if settings.task_mode == "sync":
        return HealthOut(
            status="down" if database != "ok" else ("degraded" if stale else "ok"),
            mode="embedded",
            celery_available=False,
            database=database,
            broker="unused",
            workers=0,
            beat="unused",
            training_enabled=settings.training_enabled,
            version=__version__,
            checked_at=utcnow(),
            problems=problems,
            representation=representation,
        )

    mode, celery_available, broker, workers, beat = "unknown", False, "unused", 0, "unknown"
    available, problem = _check(state, "celery", state.celery_available, timeout=2.0)
    celery_available = bool(available)
    if problem:
        problems.append(problem)
    found, problem = _check(state, "workers", state.worker_count, 2.0)
    if found is not None and not celery_available:
        # The broker answers but a queue lacks a worker: ask again next time (a worker may
        # be starting now). A dead broker's answer stays cached.
        state.forget("celery")
        state.forget("workers")
    broker = "down" if found is None else "ok"
    workers = int(found or 0)
    if broker == "down":
        problems.append(problem or "broker: no answer")
    elif not celery_available:
        problems.append("no worker consumes every training queue")
    stuck: dict[str, int] = {}
    if broker == "ok":
        waiting, _ = _check(state, "unconsumed", state.unconsumed_waiting, 2.0)
        stuck = dict(waiting or {})
        if stuck:  # read again next time: a worker may take them any moment
            state.forget("unconsumed")
        for queue, count in sorted(stuck.items()):
            problems.append(f"{count} message(s) on queue {queue} and no worker consumes it")
    if settings.task_mode == "auto" and not celery_available:
        mode = "sync"
        problems.append("tasks run in-process (sync mode): no broker or no worker")
    else:
        mode = "celery"
    if mode == "sync":
        beat = "unused"  # the embedded scheduler fires the slots in sync mode
    elif celery_available:
        alive, problem = _check(state, "beat", state.beat_alive, 2.0)
        beat = "unknown" if problem or alive is None else ("ok" if alive else "silent")
        if beat == "silent":
            problems.append(
                "no Beat holds the scheduler lock (silent for over "
                f"{settings.beat_lock_timeout:.0f}s)"
            )
    if database == "ok" and mode == "celery":
        rows, problem = _check(state, "schedule", lambda: schedule_rows(state), 3.0)
        late = overdue_jobs(rows or [], utcnow(), settings.beat_silence_seconds)
        if late:
            beat = "silent"
            problems.append(
                f"slots over {settings.beat_silence_seconds:.0f}s overdue: {', '.join(late)}"
            )
    if database == "down":
        status = "down"
    elif mode == "sync" or beat == "silent" or not celery_available or stuck or stale:
        status = "degraded"
    else:
        status = "ok"
    return HealthOut(
        status=status,
        mode=mode,
        celery_available=celery_available,
        database=database,
        broker=broker,
        workers=workers,
        beat=beat,
        training_enabled=settings.training_enabled,
        version=__version__,
        checked_at=utcnow(),
        problems=problems,
        representation=representation,
    )


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "the database does not answer"}},
)
def get_health(request: Request, response: Response) -> HealthOut:
    report = health_report(get_state(request))
    if report.database != "ok":
        response.status_code = 503
    response.headers["Cache-Control"] = "no-store"
    return report


@router.get("/schedule", response_model=ScheduleOut, responses=errors(503))
def get_schedule(request: Request) -> ScheduleOut:
    """Each Beat job: its schedule and why, last success, next run, slots missed."""
    state = get_state(request)
    return ScheduleOut(jobs=[ScheduleJob.model_validate(j) for j in schedule_rows(state)])


@router.get("/queues", response_model=QueueDepths, responses=errors(503))
def get_queues(request: Request) -> QueueDepths:
    state = get_state(request)
    if state.settings.task_mode == "sync":
        return QueueDepths(queues=dict.fromkeys(QUEUES), broker="unused", detail="sync mode")
    depths, problem = _check(state, "queues", state.queue_depths, 2.0)
    if problem or not isinstance(depths, dict) or all(v is None for v in depths.values()):
        return QueueDepths(
            queues=dict.fromkeys(QUEUES),
            broker="down",
            detail=problem or "no answer from the broker",
        )
    return QueueDepths(queues={q: depths.get(q) for q in QUEUES}, broker="ok")


@router.get("/routing/overview", response_model=RoutingOverview, responses=errors(401, 422, 503))
def routing_overview(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    recent: int = Query(
        0,
        ge=0,
        le=50,
        description="also route this many recent outcome prompts (user data: needs the "
        "bearer token when one is set)",
    ),
) -> RoutingOverview:
    """Who gets which prompts: the fixed probe prompts, plus recent outcome prompts."""
    state = get_state(request)
    if recent:
        check_token(state, credentials)  # prompts are user data
    prompts = [(p, "probe") for p in PROBE_PROMPTS]
    if recent:
        prompts += [(p, "recent") for p in queries.recent_prompts(state.service, limit=recent)]
    rows = []
    for prompt, source in prompts:
        ranking = rank(state.service, prompt)
        rows.append(
            ProbeRoute(
                prompt=prompt,
                source=source,
                god_name=ranking[0]["god_name"] if ranking else "",
                ranking=ranking,
            )
        )
    share: dict[str, int] = {}
    for row in rows:
        share[row.god_name] = share.get(row.god_name, 0) + 1
    return RoutingOverview(prompts=rows, wins=share)
