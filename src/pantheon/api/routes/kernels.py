"""Read-only views of the kernels: state, trends, learning history, counts."""

from __future__ import annotations

from fastapi import APIRouter, Query

from pantheon.api.deps import ServiceDep
from pantheon.api.routes.responses import errors
from pantheon.api.schemas import HistoryOut, HistoryPoint, KernelInfo, KernelList, StatsOut
from pantheon.training import queries

router = APIRouter(prefix="/api", tags=["kernels"])


@router.get("/kernels", response_model=KernelList, responses=errors(503))
def list_kernels(service: ServiceDep) -> KernelList:
    """Every god's kernel followed by its shadow."""
    items = queries.list_kernels(service)
    return KernelList(kernels=[KernelInfo.model_validate(i) for i in items])


@router.get("/kernels/{god_name:path}", response_model=KernelInfo, responses=errors(404, 422, 503))
def get_kernel(god_name: str, service: ServiceDep) -> KernelInfo:
    """One kernel: a god's name (any case) or ``<god>_shadow``."""
    return KernelInfo.model_validate(queries.get_kernel_info(service, god_name))


@router.get("/history", response_model=HistoryOut, responses=errors(422, 503))
def get_history(
    service: ServiceDep,
    god_name: str | None = Query(None, max_length=128, description="one kernel; all if omitted"),
    timescale: str | None = Query(None, max_length=40, description="online, batch, ..."),
    limit: int = Query(500, ge=1, le=10_000, description="the most recent steps"),
) -> HistoryOut:
    """Learning curves: loss, reward and predicted success per training step."""
    rows = queries.training_history(service, kernel_name=god_name, timescale=timescale, limit=limit)
    points = [HistoryPoint.model_validate({**row, "at": row["created_at"]}) for row in rows]
    return HistoryOut(points=points)


@router.get("/stats", response_model=StatsOut, responses=errors(503))
def get_stats(service: ServiceDep) -> StatsOut:
    """Counts for the dashboard's cards (the same figures as ``/metrics``)."""
    figures = queries.counts(service)
    kernels = queries.list_kernels(service)
    steps = figures.get("kernel_step_counts", {})
    return StatsOut(
        outcomes=figures["outcomes"],
        trained_online=figures["trained_online"],
        batch_processed=figures["batch_processed"],
        consolidated=figures["consolidated"],
        pending_online=figures["pending_online"],
        gods_with_outcomes=sum(
            1 for k in kernels if k["kind"] == "god" and k["outcomes_trained"] > 0
        ),
        kernels=len(kernels),
        steps=int(sum(steps.values())),
        checkpoints=sum(int(k["checkpoints"]) for k in kernels),
    )
