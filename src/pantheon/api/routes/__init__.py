"""One router module per area of the API; :data:`ROUTERS` is the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from pantheon.api.routes import (
    checkpoints,
    cron,
    dashboard,
    kernels,
    operations,
    outcomes,
    routing,
    tasks,
    training,
)

ROUTERS: tuple[APIRouter, ...] = (
    outcomes.router,
    routing.router,
    kernels.router,
    tasks.router,
    training.router,
    checkpoints.router,
    operations.router,
    cron.router,
    dashboard.router,
)
