"""Task status: one task by id, and the tasks this process dispatched lately."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request

from pantheon.api.routes.responses import errors
from pantheon.api.schemas import RecentTask, RecentTasks, TaskStatus
from pantheon.api.state import get_state
from pantheon.errors import NotFoundError

READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.get("", response_model=RecentTasks)
def recent_tasks(request: Request) -> RecentTasks:
    """The last tasks this web process dispatched, newest first."""
    state = get_state(request)
    items = [
        RecentTask(
            task_id=r.task_id,
            task_name=r.task_name,
            mode=r.mode,
            dispatched_at=r.dispatched_at,
            arguments=r.kwargs,
            result=r.result,
        )
        for r in list(state.recent)
    ]
    return RecentTasks(tasks=items)


@router.get("/{task_id}", response_model=TaskStatus, responses=errors(404, 503))
def task_status(
    request: Request,
    task_id: str = Path(max_length=200),
    timeout: float = Query(0.0, ge=0.0, le=30.0, description="seconds to wait for the result"),
) -> TaskStatus:
    state = get_state(request)
    found = state.dispatcher.results.get(task_id)
    if found is None:
        if state.settings.task_mode == "sync":
            # No broker in this deployment: a task this process never ran does not exist.
            raise NotFoundError(f"no task {task_id!r}", task_id=task_id)
        found = state.dispatcher.get_task_result(task_id, timeout or None)
    item = {key: found.get(key) for key in ("task_id", "task_name", "mode", "state", "result")}
    item["error"] = found.get("error")
    item["date_done"] = found.get("date_done")
    item["ready"] = str(found.get("state")) in READY_STATES
    return TaskStatus.model_validate(item)
