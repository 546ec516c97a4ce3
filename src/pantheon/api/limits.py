"""What a request may carry: a capped body that arrives in time, and clean text in its
path and query string.

Request body cap: refuse bodies over ``settings.max_body_bytes`` before reading them.

A declared ``Content-Length`` over the cap is answered 413 at once, without calling the
app or reading a byte of the body. A chunked body (no length) is counted as it streams
and cut off at the cap, so a client can never make the server buffer more than the cap.
A body must also arrive within ``settings.body_read_timeout`` seconds of the app's first
read: a client that declares more bytes than it sends is answered 408, not waited for.

The text rule (:mod:`pantheon.text`) applies to every route's path and query string
(:func:`reject_bad_text`, an app-wide dependency). Bodies are checked by their schemas;
this covers what schemas do not see, so ``GET /api/history?timescale=%00`` is a 422 on
both stores instead of a driver error on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pantheon.errors import ValidationError
from pantheon.text import text_problem


def _too_large_detail(limit: int) -> str:
    return f"request body over the {limit}-byte limit (PANTHEON_MAX_BODY_BYTES)"


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_detail(limit))


class BodyTimeoutError(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            408, f"request body not received within {seconds:g} s (PANTHEON_BODY_READ_TIMEOUT)"
        )


class BodyLimitMiddleware:
    """Pure ASGI middleware (no body buffering of its own)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_read_timeout: float = 15.0) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_read_timeout = body_read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _send_413(send, self.max_body_bytes)
            return
        limit = self.max_body_bytes
        budget = self.body_read_timeout
        seen = 0
        complete = False
        deadline: float | None = None

        async def counted_receive() -> Message:
            nonlocal seen, complete, deadline
            if complete:  # after the body only a disconnect can come: no time limit
                return await receive()
            if deadline is None:
                deadline = time.monotonic() + budget
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise BodyTimeoutError(budget) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the app's body read; the error handlers answer 413.
                    raise BodyTooLargeError(limit)
            return message

        await self.app(scope, counted_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps({"error": "payload_too_large", "detail": _too_large_detail(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def reject_bad_text(request: Request) -> None:
    """Refuse a NUL or a lone surrogate in the path or any query key or value."""
    problem = text_problem(str(request.scope.get("path", "")))
    if problem is not None:
        raise ValidationError(f"path: {problem}", errors=[f"path: {problem}"])
    for key, value in request.query_params.multi_items():
        for part, text in (("name", key), ("value", value)):
            problem = text_problem(text)
            if problem is not None:
                where = f"query parameter {part}" if part == "name" else f"query.{key}"
                raise ValidationError(f"{where}: {problem}", errors=[f"{where}: {problem}"])
