"""Sending a task through the dispatcher and remembering it for the dashboard."""

from __future__ import annotations

import logging

from pantheon.api.schemas import JobAccepted
from pantheon.api.state import AppState, DispatchRecord
from pantheon.clock import utcnow

log = logging.getLogger(__name__)


def send(state: AppState, task_name: str, **kwargs: object) -> JobAccepted:
    """Dispatch ``task_name`` (Celery or in-process, as the dispatcher decides)."""
    outcome = state.dispatcher.send(task_name, kwargs)
    result = outcome.result if isinstance(outcome.result, dict) else None
    if outcome.task_id is None:  # deferred: nothing was run or queued under an id
        return JobAccepted(task_id=None, task_name=task_name, mode=outcome.mode, result=None)
    state.remember(
        DispatchRecord(
            task_id=str(outcome.task_id),
            task_name=task_name,
            mode=str(outcome.mode),
            dispatched_at=utcnow(),
            kwargs=kwargs,
            result=result,
            state="SUCCESS" if result is not None else "PENDING",
        )
    )
    return JobAccepted(
        task_id=str(outcome.task_id) if outcome.task_id else None,
        task_name=task_name,
        mode=outcome.mode,
        result=result,
    )
