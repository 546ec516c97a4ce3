"""Checkpoints: list, save now, restore one as the new live state."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, status

from pantheon.api.deps import ServiceDep, StateDep, require_token
from pantheon.api.routes.responses import errors
from pantheon.api.schemas import (
    CheckpointIn,
    CheckpointInfo,
    CheckpointList,
    JobAccepted,
    RestoreOut,
)
from pantheon.store.db import MAX_ID
from pantheon.training import queries
from pantheon.worker import queues

router = APIRouter(prefix="/api/checkpoints", tags=["checkpoints"])


@router.get("", response_model=CheckpointList, responses=errors(422, 503))
def list_checkpoints(
    service: ServiceDep,
    god_name: str | None = Query(None, max_length=128),
    limit: int = Query(100, ge=1, le=1000),
) -> CheckpointList:
    """Newest first; ``god_name`` selects a god's and its shadow's checkpoints."""
    rows = queries.list_checkpoints(service, god_name=god_name)
    return CheckpointList(checkpoints=[CheckpointInfo.model_validate(r) for r in rows[:limit]])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=errors(401, 413, 422, 503),
    dependencies=[Depends(require_token)],
    summary="Snapshot a kernel's live state now",
)
def save_checkpoint(body: CheckpointIn, state: StateDep) -> JobAccepted:
    kernel = state.roster.resolve_kernel(body.god_name)
    return state.send(queues.SAVE_CHECKPOINT, god_name=kernel, trigger="manual")


@router.post(
    "/{checkpoint_id}/restore",
    response_model=RestoreOut,
    responses=errors(401, 404, 409, 413, 422, 503),
    dependencies=[Depends(require_token)],
    summary="Make a checkpoint the kernel's new live version",
)
def restore_checkpoint(
    service: ServiceDep, checkpoint_id: int = Path(ge=1, le=MAX_ID)
) -> RestoreOut:
    return RestoreOut.model_validate(service.restore_checkpoint(checkpoint_id).as_dict())
