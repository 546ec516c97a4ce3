"""Routing: which god should answer a prompt; the decisions it recorded, their
off-policy evaluation, and cost calibration."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import timedelta

from fastapi import APIRouter, Depends, Query, Response

from pantheon.api.deps import ServiceDep, require_token
from pantheon.api.routes.responses import errors
from pantheon.api.schemas import (
    CalibrationOut,
    DecisionOut,
    EstimateOut,
    EvaluationOut,
    PolicyEstimateOut,
    RankItem,
    RouteIn,
    RouteOut,
)
from pantheon.clock import utcnow
from pantheon.learning.offpolicy import Estimate
from pantheon.training import calibration, decisions, evaluation
from pantheon.training.evaluation import DEFAULT_LIMIT

router = APIRouter(prefix="/api", tags=["routing"])


@router.post(
    "/route",
    response_model=RouteOut,
    responses=errors(401, 413, 422, 503),
    dependencies=[Depends(require_token)],
    summary="Choose the god to call for a prompt; the decision is recorded",
)
def route_prompt(body: RouteIn, service: ServiceDep) -> Response:
    decision = decisions.route(
        service,
        body.prompt,
        candidates=body.candidates,
        explore=body.explore,
        cost_weight=body.cost_weight,
    )
    out = RouteOut(
        god_name=decision.god_name,
        decision_id=decision.decision_id,
        propensity=decision.propensity,
        policy=decision.policy,
        policy_params=decision.policy_params,
        ranking=[RankItem(**vars(r)) for r in decision.ranking],
    )
    # Serialised here, once: a returned model would be validated against response_model
    # a second time before being dumped (the schema in the OpenAPI document is the same).
    return Response(out.model_dump_json(), media_type="application/json")


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionOut,
    responses=errors(404, 422, 503),
    summary="One recorded routing decision and the outcome linked to it",
)
def get_decision(decision_id: str, service: ServiceDep) -> DecisionOut:
    view = decisions.get_decision(service, decision_id)
    body = asdict(view)
    body["ranking"] = [RankItem.model_validate(r) for r in body["ranking"]]
    return DecisionOut.model_validate(body)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _estimate(e: Estimate) -> EstimateOut:
    return EstimateOut(value=_finite(e.value), low=_finite(e.low), high=_finite(e.high), n=e.n)


@router.get(
    "/evaluation",
    response_model=EvaluationOut,
    responses=errors(422, 503),
    summary="Off-policy estimates of each routing policy's success on the logged decisions",
)
def get_evaluation(
    service: ServiceDep,
    days: float | None = Query(None, gt=0, le=3650, description="only decisions this recent"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=DEFAULT_LIMIT, description="newest N decisions"),
) -> EvaluationOut:
    since = utcnow() - timedelta(days=days) if days is not None else None
    report = evaluation.evaluate(service, since=since, limit=limit)
    return EvaluationOut(
        decisions=report.decisions,
        gods=report.gods,
        policies=[
            PolicyEstimateOut(
                policy=p.policy,
                ips=_estimate(p.ips),
                snips=_estimate(p.snips),
                dr=_estimate(p.dr),
                expected_cost=p.expected_cost,
            )
            for p in report.policies
        ],
        note=report.note,
    )


@router.get(
    "/calibration",
    response_model=CalibrationOut,
    responses=errors(422, 503),
    summary="The cost_weight that sends a share of recent prompts to the most expensive god",
)
def get_calibration(
    service: ServiceDep, share: float = Query(..., ge=0.0, le=1.0, allow_inf_nan=False)
) -> CalibrationOut:
    result = calibration.calibrate(service, share)
    return CalibrationOut.model_validate(asdict(result))
