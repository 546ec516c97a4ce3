"""The web process's state and guards: probes bounded in time, cached and single-flight;
the bearer token on POST routes and the cron secret, compared in constant time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pantheon.api.deps import (
    AppState,
    Probe,
    ProbeTimeoutError,
    require_cron_secret,
    require_token,
    secrets_match,
)
from pantheon.api.errors import install_error_handlers
from pantheon.config import Settings
from pantheon.roster import Roster

pytestmark = pytest.mark.unit

TOKEN = "a-long-test-token-0123456789"


def make_client(tmp_path: Path, **overrides: object) -> TestClient:
    settings = Settings(env="test", data_dir=tmp_path, task_mode="sync", **overrides)  # type: ignore[arg-type]
    app = FastAPI()
    app.state.pantheon = AppState.build(settings, Roster.default())
    install_error_handlers(app)

    @app.post("/guarded", dependencies=[Depends(require_token)])
    def guarded() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/cron")
    def cron(state: Annotated[AppState, Depends(require_cron_secret)]) -> dict[str, bool]:
        return {"ok": True}

    return TestClient(app)


def test_secrets_match_is_exact() -> None:
    assert secrets_match(TOKEN, TOKEN)
    assert not secrets_match(TOKEN, TOKEN + "x")
    assert not secrets_match("", TOKEN)
    assert secrets_match("é-ünïcode", "é-ünïcode")


def test_without_a_token_posts_are_open(tmp_path: Path) -> None:
    assert make_client(tmp_path).post("/guarded").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
def test_with_a_token_every_other_header_is_refused(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    client = make_client(tmp_path, api_token=SecretStr(TOKEN))
    response = client.post("/guarded", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in response.text


def test_with_a_token_the_right_bearer_passes(tmp_path: Path) -> None:
    client = make_client(tmp_path, api_token=SecretStr(TOKEN))
    ok = client.post("/guarded", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def test_cron_route_is_absent_without_a_secret(tmp_path: Path) -> None:
    response = make_client(tmp_path).post("/cron", headers={"X-Cron-Secret": "anything"})
    assert response.status_code == 404


def test_cron_secret_is_checked(tmp_path: Path) -> None:
    client = make_client(tmp_path, cron_secret=SecretStr("cron-secret-0123456789"))
    assert client.post("/cron").status_code == 401
    assert client.post("/cron", headers={"X-Cron-Secret": "nope"}).status_code == 401
    good = client.post("/cron", headers={"X-Cron-Secret": "cron-secret-0123456789"})
    assert good.status_code == 200


def test_secrets_never_reach_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = "cron-secret-0123456789"
    client = make_client(tmp_path, api_token=SecretStr(TOKEN), cron_secret=SecretStr(secret))
    with caplog.at_level("DEBUG"):
        client.post("/guarded", headers={"Authorization": f"Bearer {TOKEN}-wrong"})
        client.post("/guarded", headers={"Authorization": f"Bearer {TOKEN}"})
        client.post("/cron", headers={"X-Cron-Secret": secret + "-wrong"})
    assert TOKEN not in caplog.text
    assert secret not in caplog.text


# --- probes ------------------------------------------------------------------------
def test_a_probe_caches_its_answer_for_its_ttl() -> None:
    calls: list[int] = []

    def check() -> int:
        calls.append(1)
        return len(calls)

    with ThreadPoolExecutor(2) as pool:
        probe = Probe(pool, check, ttl=3600, timeout=5)
        assert probe.get() == 1
        assert probe.get() == 1
        probe.invalidate()
        assert probe.get() == 2
    assert len(calls) == 2


def test_a_stuck_probe_times_out_and_is_not_started_twice() -> None:
    release = threading.Event()
    started: list[int] = []

    def stuck() -> bool:
        started.append(1)
        release.wait(10)
        return True

    with ThreadPoolExecutor(2) as pool:
        probe = Probe(pool, stuck, ttl=0, timeout=0.05)
        with pytest.raises(ProbeTimeoutError):
            probe.get()
        with pytest.raises(ProbeTimeoutError):
            probe.get()
        assert len(started) == 1  # the second call waited on the same attempt
        release.set()
        assert probe.get() is True


def test_a_probe_reraises_what_the_check_raised() -> None:
    def broken() -> bool:
        raise ConnectionError("refused")

    with ThreadPoolExecutor(1) as pool, pytest.raises(ConnectionError):
        Probe(pool, broken, ttl=0, timeout=1).get()
