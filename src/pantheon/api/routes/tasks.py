"""Task status: one task by id, and the tasks this process dispatched lately."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Path, Query, Request

from pantheon.api.deps import AppState, get_state
from pantheon.api.longpoll import WaitGate
from pantheon.api.routes.responses import errors
from pantheon.api.schemas import RecentTask, RecentTasks, TaskStatus
from pantheon.errors import NotFoundError
from pantheon.worker.dispatch import celery_task_result

log = logging.getLogger(__name__)

#: Tasks the recent list shows (and keeps fresh).
RECENT_SHOWN = 20
READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


def _refresh_celery_records(state: AppState) -> int:
    """Asks the result backend about queued tasks not known to be finished yet."""
    asked = 0
    for record in list(state.recent)[:RECENT_SHOWN]:
        if record.mode == "celery" and not record.ready:
            record.update(celery_task_result(state.dispatcher.app, record.task_id, None))
            asked += 1
    return asked


@router.get("", response_model=RecentTasks)
def recent_tasks(request: Request) -> RecentTasks:
    """The last tasks this web process dispatched, newest first, with their state now."""
    state = get_state(request)
    records = list(state.recent)[:RECENT_SHOWN]
    for record in records:
        if record.mode == "sync" and not record.ready:
            found = state.dispatcher.results.get(record.task_id)
            if found is not None:
                record.update(found)
    if any(r.mode == "celery" and not r.ready for r in records):
        try:  # bounded and cached: a dead backend leaves the states as they were
            state.probe("recent-tasks", lambda: _refresh_celery_records(state), timeout=2.0)
        except Exception as exc:
            log.debug("task states not refreshed: %s", type(exc).__name__)
    items = [
        RecentTask(
            task_id=r.task_id,
            task_name=r.task_name,
            mode=r.mode,
            state=r.state,
            dispatched_at=r.dispatched_at,
            arguments=r.kwargs,
            result=r.result,
            error=r.error,
        )
        for r in records
    ]
    return RecentTasks(tasks=items)


def _lookup(state: AppState, task_id: str) -> dict[str, Any]:
    """One look-up, no waiting (the long-poll waits on the event loop instead)."""
    found: dict[str, Any] | None = state.dispatcher.results.get(task_id)
    if found is None:
        if state.settings.task_mode == "sync":
            # No broker in this deployment: a task this process never ran does not exist.
            raise NotFoundError(f"no task {task_id!r}", task_id=task_id)
        found = state.dispatcher.get_task_result(task_id, None)
    assert found is not None
    return found


def _ready(found: dict[str, Any]) -> bool:
    return str(found.get("state")) in READY_STATES


@router.get("/{task_id}", response_model=TaskStatus, responses=errors(404, 422, 503))
async def task_status(
    request: Request,
    task_id: str = Path(max_length=200),
    timeout: float = Query(
        0.0,
        ge=0.0,
        le=30.0,
        description="seconds to wait for the result (capped by PANTHEON_TASK_WAIT_MAX; "
        "answered at once when too many requests are already waiting)",
    ),
) -> TaskStatus:
    state = get_state(request)
    gate: WaitGate = request.app.state.task_waiters
    wait = min(timeout, state.settings.task_wait_max)
    found = await gate.wait(lambda: _lookup(state, task_id), _ready, wait)
    item = {key: found.get(key) for key in ("task_id", "task_name", "mode", "state", "result")}
    item["error"] = found.get("error")
    item["date_done"] = found.get("date_done")
    item["ready"] = _ready(found)
    return TaskStatus.model_validate(item)
