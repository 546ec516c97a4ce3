"""The web's middleware: what a request may carry, how long it took, and the heap it
leaves behind.

What a request may carry: a capped body that arrives in time, and clean text in its
path and query string; and, once a large one has finished, its heap goes back to the
operating system.

Request body cap: refuse bodies over ``settings.max_body_bytes`` before reading them.

A declared ``Content-Length`` over the cap is answered 413 at once, without calling the
app or reading a byte of the body. A chunked body (no length) is counted as it streams
and cut off at the cap, so a client can never make the server buffer more than the cap.
A body must also arrive within ``settings.body_read_timeout`` seconds of the app's first
read: a client that declares more bytes than it sends is answered 408, not waited for.

The text rule (:mod:`pantheon.text`) applies to every request's path and query string
(:class:`TextRuleMiddleware`, before routing). Bodies are checked by their schemas; this
covers what schemas do not see, so ``GET /api/history?timescale=%00`` is a 422 on both
stores instead of a driver error on PostgreSQL. It is middleware, not an app-wide FastAPI
dependency: FastAPI solves a dependency on every request, which cost about 5 % of the
framework's instructions for one outcome (docs/CAPACITY.md, "Single intake: the
framework's share"). So a bad path is refused even where no route matches.

Heap release (glibc). A batch intake request carries about half a megabyte of JSON per
1,000 outcomes; parsing, validating and storing it builds a few megabytes of short-lived
objects, several requests at once. When they are freed the memory stays with the process:
glibc's ``free`` gives back only free space at the top of the heap, above
``M_TRIM_THRESHOLD`` (<https://man7.org/linux/man-pages/man3/mallopt.3.html>), and the
request's chunks are freed between longer-lived ones. So the web's RSS kept the
high-water mark of the largest burst (docs/CAPACITY.md, "Web memory: batch intake").

``malloc_trim(0)`` releases every whole free page of every arena, not only the top of
the heap (since glibc 2.8: <https://man7.org/linux/man-pages/man3/malloc_trim.3.html>).
:class:`HeapReleaseMiddleware` calls it when the last large request in flight has
finished, in a worker thread: under a sustained burst the pages stay (the next request
would fault them in again), and they go back once the burst is over. On a C library
without ``malloc_trim`` (musl, macOS) it does nothing.

Latency: HTTP request and routing latency histograms, recorded by
:class:`HttpMetricsMiddleware`.

These are per web process (each replica counts its own requests; Prometheus sums them
across scrape targets). Labels are bounded: the route *template* (``/api/tasks/{task_id}``,
never the raw path), ``unmatched`` for any path no route serves, ``/static`` for the
dashboard's files.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from prometheus_client import CollectorRegistry, Histogram
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pantheon.api.errors import error_response, pantheon_error_response
from pantheon.errors import ValidationError
from pantheon.text import text_problem

log = logging.getLogger(__name__)

#: A request whose declared body is at least this large counts as large: a batch of about
#: 120 outcomes; one outcome is well under a kilobyte.
LARGE_BODY_BYTES = 64 * 1024

Trim = Callable[[int], int]


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
            # The one error body; the connection closes, as the unread body stays behind.
            answer = error_response(
                413,
                "payload_too_large",
                _too_large_detail(self.max_body_bytes),
                headers={"Connection": "close"},
            )
            await answer(scope, receive, send)
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
                deadline = asyncio.get_running_loop().time() + budget
            try:
                # A deadline on this task, not wait_for's extra task per body message.
                async with asyncio.timeout_at(deadline):
                    message = await receive()
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


class TextRuleMiddleware:
    """Pure ASGI middleware: a path or query string that breaks the text rule is answered
    422 (the ``ValidationError`` body every route documents) before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            error = text_error(scope)
            if error is not None:
                await pantheon_error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def text_error(scope: Scope) -> ValidationError | None:
    """What is wrong with the request's path or query string, or ``None``."""
    problem = text_problem(str(scope.get("path", "")))
    if problem is not None:
        return ValidationError(f"path: {problem}", errors=[f"path: {problem}"])
    query = scope.get("query_string", b"")
    if not query:
        return None
    for key, value in QueryParams(query).multi_items():
        for part, text in (("name", key), ("value", value)):
            problem = text_problem(text)
            if problem is not None:
                where = f"query parameter {part}" if part == "name" else f"query.{key}"
                return ValidationError(f"{where}: {problem}", errors=[f"{where}: {problem}"])
    return None


def find_malloc_trim() -> Trim | None:
    """glibc's ``malloc_trim`` from the C library the process already links, if it has one."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc: there is nothing to release
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return cast(Trim, trim)


class HeapReleaseMiddleware:
    """Pure ASGI middleware: counts large requests in flight (in the event loop's thread,
    so no lock); the one that brings the count back to zero trims the heap."""

    def __init__(
        self,
        app: ASGIApp,
        trim: Trim | None = None,
        large_body_bytes: int = LARGE_BODY_BYTES,
    ) -> None:
        self.app = app
        self.trim = trim if trim is not None else find_malloc_trim()
        self.large_body_bytes = large_body_bytes
        self.in_flight = 0
        self.releases = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.trim is None or scope["type"] != "http" or not self._large(scope):
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
        # Here the request's objects are gone (the route returned, the response was sent).
        if self.in_flight == 0:
            await run_in_threadpool(self._release)

    def _large(self, scope: Scope) -> bool:
        declared = _content_length(scope)
        return declared is not None and declared >= self.large_body_bytes

    def _release(self) -> None:
        assert self.trim is not None
        started = time.perf_counter()
        released = self.trim(0)
        self.releases += 1
        log.debug(
            "malloc_trim: %s in %.1f ms",
            "released" if released else "nothing to release",
            (time.perf_counter() - started) * 1000,
        )


# --- latency ---------------------------------------------------------------------------
#: Upper bounds (seconds): a route answers in milliseconds, a large batch in seconds.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip
#: The route whose latency is also reported as ``pantheon_route_latency_seconds``.
ROUTE_TEMPLATE = "/api/route"
UNMATCHED = "unmatched"
STATIC = "/static"
#: Methods kept as labels; any other token (HTTP allows any, and an h11 server passes it
#: through) is counted as ``OTHER``, so no caller can add label values without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


@dataclass
class HttpMetrics:
    """The two histograms of one app, registered in that app's registry."""

    registry: CollectorRegistry
    requests: Histogram = field(init=False)
    routing: Histogram = field(init=False)

    def __post_init__(self) -> None:
        self.requests = Histogram(
            "pantheon_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.routing = Histogram(
            "pantheon_route_latency_seconds",
            "Time to answer POST /api/route (a routing decision as the caller sees it)",
            ["status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else OTHER
        self.requests.labels(method, route, str(status)).observe(seconds)
        if route == ROUTE_TEMPLATE and method == "POST":
            self.routing.labels(str(status)).observe(seconds)


def route_template(scope: Scope) -> str:
    """The matched route's template; FastAPI leaves the route in the scope once matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path:
        return path
    if str(scope.get("path", "")).startswith(STATIC + "/"):
        return STATIC
    return UNMATCHED


class HttpMetricsMiddleware:
    """Times every HTTP request, including those refused before a route ran."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before responding

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.observe(
                str(scope.get("method", "")),
                route_template(scope),
                status,
                time.perf_counter() - started,
            )
