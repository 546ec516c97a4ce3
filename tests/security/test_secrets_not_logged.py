"""Secrets never appear in logs or in error bodies, right or wrong ones alike."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pantheon.config import LogFormat
from pantheon.logs import make_handler
from tests.security.conftest import CRON, TOKEN, WRONG_CRON, WRONG_TOKEN, MakeClient

pytestmark = pytest.mark.unit

SECRETS = (TOKEN, CRON, WRONG_TOKEN, WRONG_CRON)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every record also written as a production JSON line (pantheon.logs' own handler)."""
    stream = io.StringIO()
    handler = make_handler(LogFormat.JSON, stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_no_secret_in_logs_or_bodies(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, json_lines: io.StringIO
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    bodies: list[str] = []
    requests = [
        ("/api/outcomes", {"Authorization": f"Bearer {WRONG_TOKEN}"}, {}),
        ("/api/outcomes", {"Authorization": f"Basic {WRONG_TOKEN}"}, {}),
        ("/api/outcomes", {"Authorization": WRONG_TOKEN}, {}),
        ("/api/cron/wake", {"X-Cron-Secret": WRONG_CRON}, {"task_type": "hourly"}),
        ("/api/cron/wake", {"X-Cron-Secret": CRON}, {"task_type": "no-such-job"}),
        # Right token, bad bodies: the validation errors must not echo the header.
        ("/api/outcomes", {"Authorization": f"Bearer {TOKEN}"}, {"god_name": "nobody"}),
        ("/api/route", {"Authorization": f"Bearer {TOKEN}"}, {"prompt": ""}),
        ("/api/checkpoints/424242/restore", {"Authorization": f"Bearer {TOKEN}"}, {}),
    ]
    for path, headers, body in requests:
        resp = client.post(path, json=body, headers=headers)
        assert resp.status_code < 500, (path, resp.text)
        bodies.append(resp.text + str(dict(resp.headers)))
    # A secret sent where a body field goes must not come back in the 422 either.
    resp = client.post(
        "/api/outcomes",
        json={"god_name": WRONG_TOKEN, "prompt": "p", "response": "r", "success": True},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert resp.status_code == 422
    bodies.append(client.get("/api/health").text)
    bodies.append(client.get("/metrics").text)
    records = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert records, "no JSON line was written"
    assert all({"level", "time", "logger", "message"} <= set(r) for r in records)
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records) + json_lines.getvalue()
    for secret in SECRETS:
        assert secret not in logged, f"secret {secret[:6]}... was logged"
        for text in bodies:
            assert secret not in text, f"secret {secret[:6]}... in a response"
    assert caplog.records, "nothing was logged: the capture is not looking"
