"""Every error the web layer answers, mapped to HTTP in one place.

Bodies always have the shape ``{"error": code, "detail": text, "context": {...}}``
(:class:`pantheon.api.schemas.ErrorBody`). A :class:`PantheonError` keeps its own status and
code (a 5xx tells the caller only a fixed sentence: host, port, DSN and driver messages
stay in the log); pydantic validation becomes a 422 listing each bad field; a lost
database connection that escaped the store as a raw driver error still becomes a 503,
never a 500. Unexpected errors are logged with their traceback and answered with a body
that reveals nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pantheon.errors import AuthError, PantheonError

log = logging.getLogger(__name__)

#: Codes for HTTP errors raised by the framework itself (unknown route, wrong method, ...).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}


def error_response(
    status: int,
    code: str,
    detail: str,
    context: Mapping[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {"error": code, "detail": detail}
    if context:
        body["context"] = context
    return JSONResponse(body, status_code=status, headers=headers)


def _field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's error list without the offending input (it may be large or secret)."""
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        out.append({"loc": loc, "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))})
    return out


def _summary(fields: list[dict[str, Any]]) -> str:
    parts = []
    for field in fields[:5]:
        loc = ".".join(p for p in field["loc"] if p not in ("body",)) or "body"
        parts.append(f"{loc}: {field['msg']}")
    more = f" (+{len(fields) - 5} more)" if len(fields) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


async def _pantheon_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PantheonError)
    if exc.status_code >= 500:
        log.error(
            "%s %s failed: %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc.message,
            exc_info=exc.status_code == 500,
        )
    return pantheon_error_response(exc)


def pantheon_error_response(exc: PantheonError) -> JSONResponse:
    """The answer to ``exc``: its status, code, public detail and context (also sent by
    middleware that refuses a request before routing)."""
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
    if exc.status_code == 503:
        headers = {"Retry-After": "5"}
    body = exc.public_dict()
    return error_response(
        exc.status_code, body["error"], body["detail"], body.get("context"), headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = _field_errors(exc.errors())
    return error_response(422, "validation_error", _summary(fields), {"errors": fields})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (bytes that are not JSON or not UTF-8): bad
        # input like any other, so the same 422 every route documents.
        return error_response(422, "validation_error", "request body is not valid JSON")
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, detail, headers=headers)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # The store should raise DatabaseUnavailableError itself; this is the safety net for a
    # connection lost mid-request. The driver message may contain the URL: never echo it.
    log.error("%s %s: database error: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(
        503,
        "database_unavailable",
        "the database did not answer; retry shortly",
        headers={"Retry-After": "5"},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; see the server log")


def _is_connection_error(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError) or bool(exc.connection_invalidated)


async def _dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if _is_connection_error(exc):
        return await _database_error(request, exc)
    return await _unexpected_error(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping from exceptions to JSON error bodies."""
    app.add_exception_handler(PantheonError, _pantheon_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _dbapi_error)
    app.add_exception_handler(PoolTimeoutError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
