"""Secrets never appear in logs or in error bodies, right or wrong ones alike."""

from __future__ import annotations

import logging

import pytest

from tests.security.conftest import CRON, TOKEN, WRONG_CRON, WRONG_TOKEN, MakeClient

pytestmark = pytest.mark.unit

SECRETS = (TOKEN, CRON, WRONG_TOKEN, WRONG_CRON)


def test_no_secret_in_logs_or_bodies(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
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
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in SECRETS:
        assert secret not in logged, f"secret {secret[:6]}... was logged"
        for text in bodies:
            assert secret not in text, f"secret {secret[:6]}... in a response"
    assert caplog.records, "nothing was logged: the capture is not looking"
