"""The FastAPI application: ``create_app(settings)``, and a factory for ``uvicorn --factory``.

``uvicorn pantheon.api.app:app_factory --factory`` builds settings from the environment.
Routes are thin (parse, call one service function); errors map to HTTP in
:mod:`pantheon.api.errors`; request bodies are capped, and the heap large requests freed
goes back to the system, in :mod:`pantheon.api.middleware`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pantheon import __version__
from pantheon.api.deps import AppState
from pantheon.api.errors import install_error_handlers
from pantheon.api.longpoll import WaitGate
from pantheon.api.metrics import registry_for
from pantheon.api.metrics import router as metrics_router
from pantheon.api.middleware import (
    BodyLimitMiddleware,
    HeapReleaseMiddleware,
    HttpMetrics,
    HttpMetricsMiddleware,
    TextRuleMiddleware,
)
from pantheon.api.routes import ROUTERS
from pantheon.api.routes.dashboard import STATIC_DIR
from pantheon.config import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """Pantheon learns, from chat outcomes, which god of a pantheon answers a prompt best.

POST routes need `Authorization: Bearer <PANTHEON_API_TOKEN>` when a token is set.
Errors always answer `{"error": code, "detail": text, "context": {...}}`.
"""


def create_app(settings: Settings, *, state: AppState | None = None) -> FastAPI:
    """The web application for ``settings`` (production refuses default secrets)."""
    settings.require_safe_for_production()
    app_state = state or AppState.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info(
            "Pantheon web %s: env=%s task_mode=%s api_token=%s cron_route=%s",
            __version__,
            settings.env,
            settings.task_mode,
            "set" if settings.api_token else "unset",
            "enabled" if settings.cron_secret else "disabled",
        )
        _log_celery_availability(app_state)
        try:
            yield
        finally:
            app_state.close()

    app = FastAPI(
        title="Pantheon",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.pantheon = app_state
    app.state.task_waiters = WaitGate(settings.max_task_waiters)
    app.state.metrics_registry = registry_for(app_state)
    http_metrics = HttpMetrics(app.state.metrics_registry)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(metrics_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Innermost: a large request's memory goes back to the system once it has finished.
    app.add_middleware(HeapReleaseMiddleware)
    # An oversized or stalled body is refused before anything else reads it.
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_read_timeout=settings.body_read_timeout,
    )
    # A NUL or lone surrogate in the path or query string is refused before routing.
    app.add_middleware(TextRuleMiddleware)
    # Outermost: refused requests are timed and counted too (it reads no body).
    app.add_middleware(HttpMetricsMiddleware, metrics=http_metrics)
    return app


def _log_celery_availability(state: AppState) -> None:
    if state.settings.task_mode == "sync":
        log.info("Celery available: False (PANTHEON_TASK_MODE=sync)")
        return
    try:
        available = state.probe("celery", state.celery_available, timeout=3.0)
    except Exception as exc:  # startup must not fail because the broker is down
        log.info("Celery available: False (%s)", type(exc).__name__)
        return
    log.info("Celery available: %s", bool(available))


def app_factory() -> FastAPI:
    """For ``uvicorn --factory``: settings from the environment."""
    return create_app(get_settings())
