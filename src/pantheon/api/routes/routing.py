"""Routing: which god should answer a prompt; the decisions it recorded."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request

from pantheon.api.routes.responses import errors
from pantheon.api.schemas import DecisionOut, RankItem, RouteIn, RouteOut
from pantheon.api.security import require_token
from pantheon.api.state import get_state
from pantheon.training import decisions

router = APIRouter(prefix="/api", tags=["routing"])


@router.post(
    "/route",
    response_model=RouteOut,
    responses=errors(401, 413, 422, 503),
    dependencies=[Depends(require_token)],
    summary="Choose the god to call for a prompt; the decision is recorded",
)
def route_prompt(body: RouteIn, request: Request) -> RouteOut:
    decision = decisions.route(
        get_state(request).service,
        body.prompt,
        candidates=body.candidates,
        explore=body.explore,
        cost_weight=body.cost_weight,
    )
    return RouteOut(
        god_name=decision.god_name,
        decision_id=decision.decision_id,
        propensity=decision.propensity,
        policy=decision.policy,
        policy_params=decision.policy_params,
        ranking=[RankItem.model_validate(asdict(r)) for r in decision.ranking],
    )


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionOut,
    responses=errors(404, 422, 503),
    summary="One recorded routing decision and the outcome linked to it",
)
def get_decision(decision_id: str, request: Request) -> DecisionOut:
    view = decisions.get_decision(get_state(request).service, decision_id)
    body = asdict(view)
    body["ranking"] = [RankItem.model_validate(r) for r in body["ranking"]]
    return DecisionOut.model_validate(body)
