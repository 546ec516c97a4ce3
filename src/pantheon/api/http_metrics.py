"""HTTP request and routing latency histograms, recorded by an ASGI middleware.

These are per web process (each replica counts its own requests; Prometheus sums them
across scrape targets). Labels are bounded: the route *template* (``/api/tasks/{task_id}``,
never the raw path), ``unmatched`` for any path no route serves, ``/static`` for the
dashboard's files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Upper bounds (seconds): a route answers in milliseconds, a large batch in seconds.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip
#: The route whose latency is also reported as ``pantheon_route_latency_seconds``.
ROUTE_TEMPLATE = "/api/route"
UNMATCHED = "unmatched"
STATIC = "/static"


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
