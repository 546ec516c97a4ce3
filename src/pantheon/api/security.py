"""Bearer token for every POST, and the cron secret for the legacy cron route.

Both compare in constant time (``hmac.compare_digest`` on bytes). With no
``PANTHEON_API_TOKEN`` the API is open (development); production refuses to start without
one (``Settings.require_safe_for_production``). Secrets are never logged or echoed.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from pantheon.api.deps import StateDep
from pantheon.api.state import AppState
from pantheon.errors import AuthError, NotFoundError

#: auto_error=False: a missing header is ours to answer (with our error body).
bearer_scheme = HTTPBearer(auto_error=False, description="PANTHEON_API_TOKEN")
cron_secret_scheme = APIKeyHeader(name="X-Cron-Secret", auto_error=False, description="CRON_SECRET")


def secrets_match(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets (length leaks, content does not)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


async def require_token(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """Dependency of every POST route: checks ``Authorization: Bearer <token>`` if one is set."""
    check_token(state, credentials)


def check_token(state: AppState, credentials: HTTPAuthorizationCredentials | None) -> None:
    """The bearer-token check itself, for a GET that is public only in part."""
    token = state.settings.api_token
    if token is None:
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token: send 'Authorization: Bearer <PANTHEON_API_TOKEN>'")
    if not secrets_match(credentials.credentials, token.get_secret_value()):
        raise AuthError("invalid bearer token")


async def require_cron_secret(
    state: StateDep, secret: Annotated[str | None, Depends(cron_secret_scheme)]
) -> AppState:
    """The cron route's guard; with ``CRON_SECRET`` unset the route does not exist (404)."""
    expected = state.settings.cron_secret
    if expected is None or not expected.get_secret_value():
        raise NotFoundError("the cron route is disabled (CRON_SECRET is not set)")
    if secret is None:
        raise AuthError("missing X-Cron-Secret header")
    if not secrets_match(secret, expected.get_secret_value()):
        raise AuthError("invalid cron secret")
    return state
