"""Outcome intake: store durably first, then dispatch online training (the outbox rule)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request, Response, status

from pantheon.api.deps import AppState, get_state, require_token
from pantheon.api.routes.responses import errors
from pantheon.api.schemas import (
    BatchAccepted,
    BatchIn,
    BatchTask,
    DispatchMode,
    OutcomeAccepted,
    OutcomeIn,
)
from pantheon.errors import ValidationError
from pantheon.training.intake import IngestResult, ingest
from pantheon.worker.queues import TRAIN_FROM_OUTCOME

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/outcomes", tags=["outcomes"], dependencies=[Depends(require_token)])


def _ingest(state: AppState, outcomes: list[OutcomeIn]) -> IngestResult:
    return ingest(state.service, outcomes)


def _train(state: AppState, outcome_id: int, god: str) -> tuple[str | None, DispatchMode]:
    """Dispatch online training; the outcome is already committed, so failure defers it.
    The god, known since intake, rides along: dispatch needs it for the pending flag."""
    try:
        job = state.send(TRAIN_FROM_OUTCOME, outcome_id=outcome_id, god_name=god)
    except Exception as exc:  # stored is what the 202 promises; the outbox sweep retries
        log.warning(
            "outcome %s stored; dispatch deferred to the outbox sweep (%s: %s)",
            outcome_id,
            type(exc).__name__,
            exc,
        )
        return None, "deferred"
    return job.task_id, job.mode


def _answer(answer: OutcomeAccepted | BatchAccepted, status_code: int) -> Response:
    """``answer`` serialised once. A returned model would be validated against the route's
    ``response_model`` again and then encoded by FastAPI: about a fifth of the framework's
    CPU for one outcome (docs/CAPACITY.md, "Single intake: the framework's share").
    ``response_model`` stays, for OpenAPI. ``POST /api/route`` answers the same way."""
    return Response(
        answer.model_dump_json(), status_code=status_code, media_type="application/json"
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OutcomeAccepted,
    responses={
        200: {"model": OutcomeAccepted, "description": "same outcome_key seen before"},
        **errors(401, 413, 422, 503),
    },
    summary="Store one outcome and train on it",
)
def post_outcome(body: OutcomeIn, request: Request) -> Response:
    state = get_state(request)
    result = _ingest(state, [body])
    if not result.new_ids:
        answer = OutcomeAccepted(
            outcome_id=result.outcome_ids[0], task_id=None, mode="none", duplicate=True
        )
        return _answer(answer, status.HTTP_200_OK)
    outcome_id = result.new_ids[0]
    (god,) = result.ids_by_god
    task_id, mode = _train(state, outcome_id, god)
    answer = OutcomeAccepted(outcome_id=outcome_id, task_id=task_id, mode=mode)
    return _answer(answer, status.HTTP_202_ACCEPTED)


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchAccepted,
    responses=errors(401, 413, 422, 503),
    summary="Store up to PANTHEON_MAX_BATCH outcomes in one transaction",
)
def post_outcome_batch(body: BatchIn, request: Request) -> Response:
    state = get_state(request)
    limit = state.settings.max_batch
    if len(body.outcomes) > limit:
        raise ValidationError(
            f"batch of {len(body.outcomes)} outcomes is over the limit of {limit}",
            size=len(body.outcomes),
            limit=limit,
        )
    result = _ingest(state, body.outcomes)
    new = set(result.new_ids)
    tasks = []
    # One dispatch per god: the online step coalesces that god's other pending outcomes.
    for god, ids in result.ids_by_god.items():
        fresh = [i for i in ids if i in new]
        if fresh:
            task_id, mode = _train(state, fresh[0], god)
            tasks.append(BatchTask(god_name=god, task_id=task_id, mode=mode))
    answer = BatchAccepted(
        accepted=result.accepted,
        duplicates=result.duplicates,
        outcome_ids=list(result.outcome_ids),
        tasks=tasks,
    )
    return _answer(answer, status.HTTP_202_ACCEPTED)
