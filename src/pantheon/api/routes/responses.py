"""The error answers a route documents in OpenAPI, all with the one error body."""

from __future__ import annotations

from typing import Any

from pantheon.api.schemas import ErrorBody

_WHY = {
    401: "missing or wrong bearer token / cron secret",
    404: "no such item",
    409: "conflict (e.g. training disabled)",
    413: "request body over PANTHEON_MAX_BODY_BYTES",
    422: "invalid input; context.errors lists each field",
    503: "a dependency (database or broker) is down; retry later",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody, "description": _WHY[code]} for code in codes}
