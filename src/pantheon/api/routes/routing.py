"""Routing: which god should answer a prompt, by predicted reward."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from pantheon.api.routes.responses import errors
from pantheon.api.schemas import RankItem, RouteIn, RouteOut
from pantheon.api.security import require_token
from pantheon.api.state import get_state
from pantheon.errors import ValidationError

router = APIRouter(prefix="/api", tags=["routing"])


@router.post(
    "/route",
    response_model=RouteOut,
    responses=errors(401, 413, 422, 503),
    dependencies=[Depends(require_token)],
    summary="Rank the gods for a prompt; the first is the one to call",
)
def route_prompt(body: RouteIn, request: Request) -> RouteOut:
    from pantheon.training.routing import rank

    state = get_state(request)
    ranking = rank(state.service, body.prompt, candidates=body.candidates, explore=body.explore)
    items = [RankItem.model_validate(item) for item in ranking]
    if not items:
        raise ValidationError("no candidate god to route to")
    return RouteOut(god_name=items[0].god_name, ranking=items)
