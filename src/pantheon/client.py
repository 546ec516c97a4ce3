"""A Python client for a Pantheon server: :class:`PantheonClient` and :class:`AsyncPantheonClient`.

::

    from pantheon.client import PantheonClient

    with PantheonClient("https://pantheon.example.com", token="...") as client:
        choice = client.route("Prove that the square root of 2 is irrational.")
        accepted = client.record_outcome(
            god_name=choice.god_name, prompt="...", response="...", success=True
        )

Retries never double an outcome: every outcome is sent with an ``outcome_key`` (the
caller's, or one made here once and reused by every retry of that call), and the server
stores one outcome per key. Connection errors, timeouts, 429 and 5xx answers are retried
with exponential backoff (``Retry-After`` is honoured); other errors are raised at once as
the project's own errors (:mod:`pantheon.errors`). Results are the API's own response
models (:mod:`pantheon.api.schemas`).

Both clients share one implementation without I/O (the sans-IO idea of h11,
https://h11.readthedocs.io/en/latest/ — the protocol apart from the socket): a
:class:`Call` says what one API call POSTs and how its answer parses, :class:`Retries`
decides after each attempt whether to answer or wait and try again. Each client only
does the I/O: ``httpx.Client.post`` and ``time.sleep``, or their awaited twins.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import httpx
from pydantic import BaseModel

from pantheon.api.schemas import BatchAccepted, OutcomeAccepted, OutcomeIn, RouteOut
from pantheon.errors import (
    AuthError,
    BrokerUnavailableError,
    CheckpointError,
    ConflictError,
    DatabaseUnavailableError,
    NotFoundError,
    PantheonError,
    TrainingDisabledError,
    UnavailableError,
    ValidationError,
)

__all__ = [
    "AsyncPantheonClient",
    "BatchAccepted",
    "OutcomeAccepted",
    "PantheonClient",
    "RetryPolicy",
    "RouteOut",
]

M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")

#: Answers worth asking again: rate limited, or the server (or a proxy before it) failing.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

#: Error code in the answer body → the project's error class.
_BY_CODE: dict[str, type[PantheonError]] = {
    "unauthorized": AuthError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "checkpoint_error": CheckpointError,
    "training_disabled": TrainingDisabledError,
    "database_unavailable": DatabaseUnavailableError,
    "broker_unavailable": BrokerUnavailableError,
    "unavailable": UnavailableError,
}
_BY_STATUS: dict[int, type[PantheonError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    422: ValidationError,
    429: UnavailableError,
    503: UnavailableError,
}


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first, waiting ``base * 2**n`` (at most ``cap``)."""

    retries: int = 4
    base: float = 0.25
    cap: float = 8.0

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        if response is not None:
            after = response.headers.get("Retry-After", "")
            if after.replace(".", "", 1).isdigit():
                return min(float(after), self.cap)
        return float(min(self.base * 2**attempt, self.cap))


def outcome_body(
    *,
    god_name: str,
    prompt: str,
    response: str,
    success: bool,
    outcome_key: str | None = None,
    decision_id: uuid.UUID | str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One outcome as the API takes it, checked here first, always with an ``outcome_key``.

    ``decision_id`` (the routing decision this outcome answers) is sent only when given.
    """
    checked = OutcomeIn(
        god_name=god_name,
        prompt=prompt,
        response=response,
        success=success,
        outcome_key=outcome_key or f"client-{uuid.uuid4()}",
        decision_id=decision_id,
        **fields,
    )
    return checked.model_dump(mode="json", exclude_none=True)


def batch_body(outcomes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {"outcomes": [outcome_body(**dict(item)) for item in outcomes]}


def route_body(
    prompt: str,
    *,
    candidates: list[str] | None = None,
    explore: bool | float | None = None,
    cost_weight: float = 0.0,
) -> dict[str, Any]:
    """Only what the caller set: an absent ``explore`` means the server's configured policy."""
    body: dict[str, Any] = {"prompt": prompt}
    if candidates is not None:
        body["candidates"] = candidates
    if explore is not None:
        body["explore"] = explore
    if cost_weight:
        body["cost_weight"] = cost_weight
    return body


def error_for(response: httpx.Response) -> PantheonError:
    """The project's error for a failed answer (``{"error", "detail", "context"}``)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("error") or "")
    detail = str(body.get("detail") or f"HTTP {response.status_code}")
    context = body.get("context") if isinstance(body.get("context"), dict) else {}
    cls = _BY_CODE.get(code) or _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ValidationError if 400 <= response.status_code < 500 else PantheonError
    details = {k: v for k, v in (context or {}).items() if k != "message"}
    details.update(status=response.status_code, code=code or None)
    return cls(detail, **details)


def _unreachable(url: str, exc: Exception) -> UnavailableError:
    return UnavailableError(f"cannot reach Pantheon at {url}: {type(exc).__name__}")


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@dataclass(frozen=True)
class Call(Generic[M]):
    """One API call without its I/O: the path and body to POST (the same bytes on every
    attempt), and the response model a successful answer parses into."""

    path: str
    body: dict[str, Any]
    model: type[M]

    def result(self, response: httpx.Response) -> M:
        if response.is_success:
            return self.model.model_validate(response.json())
        raise error_for(response)


class Retries:
    """The retry decisions of one call: after each attempt, the answer to return or the
    seconds to wait before the next attempt; the last failed connection raises."""

    def __init__(self, policy: RetryPolicy, url: str) -> None:
        self.policy = policy
        self.url = url
        self.attempt = 0

    def after(self, answer: httpx.Response | httpx.TransportError) -> httpx.Response | float:
        last = self.attempt >= self.policy.retries
        attempt, self.attempt = self.attempt, self.attempt + 1
        if isinstance(answer, httpx.TransportError):
            if last:
                raise _unreachable(self.url, answer) from answer
            return self.policy.delay(attempt)
        if answer.status_code not in RETRY_STATUSES or last:
            return answer
        return self.policy.delay(attempt, answer)


def _call_of(
    path: str, model: type[M], body: Callable[P, dict[str, Any]], doc: str
) -> Callable[P, Call[M]]:
    """The :class:`Call` builder of one API route: ``body``'s signature, ``doc`` its help."""

    def build(*args: P.args, **kwargs: P.kwargs) -> Call[M]:
        return Call(path, body(*args, **kwargs), model)

    build.__doc__ = doc
    return build


record_outcome_call = _call_of(
    "/api/outcomes",
    OutcomeAccepted,
    outcome_body,
    """``POST /api/outcomes``. ``fields``: ``phi``, ``kappa``, ``coherence_score``,
    ``score``, ``basin_trajectory``, ``source_type``, ``source_id`` (as in the API).""",
)
record_batch_call = _call_of(
    "/api/outcomes/batch",
    BatchAccepted,
    batch_body,
    "``POST /api/outcomes/batch``: stored in one transaction, each with its own key.",
)
route_call = _call_of(
    "/api/route",
    RouteOut,
    route_body,
    """``POST /api/route``: the god to call (``god_name``), the ``decision_id`` to send
    back with its outcome, and every candidate's score and probability.""",
)


def _blocking(
    build: Callable[P, Call[M]],
) -> Callable[Concatenate[PantheonClient, P], M]:
    """A :class:`PantheonClient` method that makes ``build``'s call (its signature and doc)."""

    def method(self: PantheonClient, /, *args: P.args, **kwargs: P.kwargs) -> M:
        return self.call(build(*args, **kwargs))

    method.__doc__ = build.__doc__
    return method


def _awaited(
    build: Callable[P, Call[M]],
) -> Callable[Concatenate[AsyncPantheonClient, P], Coroutine[Any, Any, M]]:
    """An :class:`AsyncPantheonClient` method that makes ``build``'s call, awaited."""

    async def method(self: AsyncPantheonClient, /, *args: P.args, **kwargs: P.kwargs) -> M:
        return await self.call(build(*args, **kwargs))

    method.__doc__ = build.__doc__
    return method


class PantheonClient:
    """Blocking client (one ``httpx.Client``; use it as a context manager or ``close()``)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(token), timeout=timeout, transport=transport
        )

    record_outcome = _blocking(record_outcome_call)
    record_batch = _blocking(record_batch_call)
    route = _blocking(route_call)

    def call(self, call: Call[M]) -> M:
        """Make ``call``, retrying what is worth retrying (:class:`Retries`)."""
        retries = Retries(self.retry, str(self._http.base_url))
        while True:
            try:
                answer: httpx.Response | httpx.TransportError = self._http.post(
                    call.path, json=call.body
                )
            except httpx.TransportError as exc:
                answer = exc
            step = retries.after(answer)
            if isinstance(step, httpx.Response):
                return call.result(step)
            time.sleep(step)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PantheonClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncPantheonClient:
    """The same calls as :class:`PantheonClient`, awaited (one ``httpx.AsyncClient``)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(token), timeout=timeout, transport=transport
        )

    record_outcome = _awaited(record_outcome_call)
    record_batch = _awaited(record_batch_call)
    route = _awaited(route_call)

    async def call(self, call: Call[M]) -> M:
        """Make ``call``, retrying what is worth retrying (:class:`Retries`)."""
        retries = Retries(self.retry, str(self._http.base_url))
        while True:
            try:
                answer: httpx.Response | httpx.TransportError = await self._http.post(
                    call.path, json=call.body
                )
            except httpx.TransportError as exc:
                answer = exc
            step = retries.after(answer)
            if isinstance(step, httpx.Response):
                return call.result(step)
            await asyncio.sleep(step)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPantheonClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
