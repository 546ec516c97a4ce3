"""Run a training job now, or move knowledge between kernels."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, status

from pantheon.api.deps import AppState, get_state, require_token
from pantheon.api.routes.responses import errors
from pantheon.api.schemas import JobAccepted, TransferIn
from pantheon.errors import TransferError
from pantheon.worker import queues

router = APIRouter(prefix="/api", tags=["training"], dependencies=[Depends(require_token)])

Job = Literal["hourly", "nightly", "shadow-sync", "cleanup"]

#: job → (task for every god, task for one god or None).
JOB_TASKS: dict[str, tuple[str, str | None]] = {
    "hourly": (queues.HOURLY_BATCH_ALL, queues.HOURLY_BATCH),
    "nightly": (queues.NIGHTLY_ALL, queues.NIGHTLY),
    "shadow-sync": (queues.SYNC_SHADOWS, None),
    "cleanup": (queues.CLEANUP_CHECKPOINTS, None),
}


def run_job(state: AppState, job: str, god_name: str | None = None) -> JobAccepted:
    """Dispatch one of the scheduled jobs now (shared with the legacy cron route)."""
    all_task, one_task = JOB_TASKS[job]
    if god_name is not None and one_task is not None:
        god = state.roster.get(god_name).name
        return state.send(one_task, god_name=god)
    return state.send(all_task)


@router.post(
    "/training/{job}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=errors(401, 413, 422, 503),
    summary="Run a scheduled training job now",
)
def post_training_job(
    job: Job,
    request: Request,
    god_name: str | None = Query(
        None, max_length=128, description="hourly/nightly only: one god instead of all"
    ),
) -> JobAccepted:
    return run_job(get_state(request), job, god_name)


@router.post(
    "/transfer",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=errors(401, 413, 422, 503),
    summary="Knowledge transfer between two kernels (evolution, breeding, ...)",
)
def post_transfer(body: TransferIn, request: Request) -> JobAccepted:
    state = get_state(request)
    # Checked here so a bad name is a 422 now, not a failed task later.
    source = state.roster.resolve_kernel(body.source_god)
    target = state.roster.resolve_kernel(body.target_god)
    extra = body.extra_params.model_dump(exclude_none=True) if body.extra_params else {}
    if body.transfer_type == "breeding" and "partner" in extra:
        extra["partner"] = state.roster.resolve_kernel(str(extra["partner"]))
    if source == target:
        raise TransferError(f"a kernel cannot transfer into itself ({source})")
    return state.send(
        queues.KNOWLEDGE_TRANSFER,
        transfer_type=body.transfer_type,
        source_god=source,
        target_god=target,
        transfer_ratio=body.transfer_ratio,
        extra_params=extra or None,
    )
