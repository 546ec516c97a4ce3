"""The old cron route, kept so existing cron callers keep working while they migrate.

Guarded by ``X-Cron-Secret`` (constant-time compare), disabled (404) when ``CRON_SECRET``
is unset, and every answer carries ``Deprecation`` and a ``Link`` to the replacement.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from pantheon.api.deps import AppState, require_cron_secret
from pantheon.api.routes.responses import errors
from pantheon.api.routes.training import run_job
from pantheon.api.schemas import CronIn, JobAccepted
from pantheon.errors import ValidationError

#: RFC 9745: the route is deprecated since 2026-11-28 00:00 UTC (a Unix timestamp).
DEPRECATION = "@1795824000"
SUNSET = "Mon, 01 Mar 2027 00:00:00 GMT"

#: The old cron task types and the job each now maps to.
CRON_TASKS = {
    "hourly": "hourly",
    "hourly_batch": "hourly",
    "batch": "hourly",
    "nightly": "nightly",
    "nightly_consolidation": "nightly",
    "consolidation": "nightly",
    "shadow-sync": "shadow-sync",
    "shadow_sync": "shadow-sync",
    "sync_shadows": "shadow-sync",
    "cleanup": "cleanup",
    "checkpoint_cleanup": "cleanup",
}


_HEADERS = [
    (b"deprecation", DEPRECATION.encode()),
    (b"sunset", SUNSET.encode()),
    (b"link", b'</api/training/{job}>; rel="successor-version"'),
]
_HEADER_DICT = {name.decode(): value.decode() for name, value in _HEADERS}


class DeprecatedRoute(APIRoute):
    """A route whose every answer, errors included, carries the deprecation headers.

    The headers are added around the route's own ASGI app, which also sends the error
    answers of its dependencies and body validation (FastAPI's ``request_response``
    handles exceptions inside the route), so other routes never pass through this code.
    A custom route class is FastAPI's documented hook for this:
    https://fastapi.tiangolo.com/how-to/custom-request-and-route/
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allow = {"Allow": ", ".join(self.methods)}
            raise HTTPException(405, headers={**allow, **_HEADER_DICT})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_HEADERS]}
            await send(message)

        await super().handle(scope, receive, send_with_headers)


router = APIRouter(prefix="/api/cron", tags=["deprecated"], route_class=DeprecatedRoute)


@router.post(
    "/wake",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=errors(401, 404, 413, 422, 503),
    deprecated=True,
    summary="Deprecated: run a job from an external cron (use POST /api/training/{job})",
)
def cron_wake(
    body: CronIn, state: Annotated[AppState, Depends(require_cron_secret)]
) -> JobAccepted:
    job = CRON_TASKS.get(body.task_type.strip().lower())
    if job is None:
        raise ValidationError(
            f"unknown task_type {body.task_type!r}",
            valid=sorted(CRON_TASKS),
        )
    return run_job(state, job)
