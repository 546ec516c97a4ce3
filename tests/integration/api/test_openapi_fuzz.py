"""Schemathesis against the app's own OpenAPI schema: no 5xx, no schema violation.

The fast run (about a hundred requests) is in the normal suite; the ``slow`` one sends well
over a thousand. Both go through the ASGI transport into a real app on real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from pantheon.api.app import create_app
from pantheon.store.migrate import ensure_schema

pytestmark = pytest.mark.integration

#: What "no 5xx and no schema violation" means, check by check.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


#: Requests sent by the running test (checked against its minimum at teardown).
SENT: list[str] = []


@pytest.fixture
def api_schema(
    postgres_url: str, make_settings: Any, request: pytest.FixtureRequest
) -> Iterator[Any]:
    app_settings = make_settings(database_url_raw=postgres_url, max_batch=20)
    ensure_schema(app_settings)
    app = create_app(app_settings)
    SENT.clear()
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.pantheon.close()
    minimum = 1000 if request.node.get_closest_marker("slow") else 80
    assert len(SENT) >= minimum, f"only {len(SENT)} requests sent"


schema = schemathesis.pytest.from_fixture("api_schema")


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )


@schema.parametrize()
@fuzz(8)
def test_api_conforms_to_its_schema(case: Any) -> None:
    SENT.append(case.operation.label)
    case.call_and_validate(checks=CHECKS)


@pytest.mark.slow
@schema.parametrize()
@fuzz(120)
def test_api_conforms_to_its_schema_at_length(case: Any) -> None:
    SENT.append(case.operation.label)
    case.call_and_validate(checks=CHECKS)
