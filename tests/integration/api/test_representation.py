"""A coordizer change through the API and the CLI: flagged, refused, then recoordized."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pantheon.cli import main
from pantheon.learning import coordizer
from pantheon.learning.coordizer_kind import CoordizerKind
from tests.fakes.coordizer import Counting, pin_version
from tests.integration.api.conftest import MakeClient, outcome

pytestmark = pytest.mark.integration


def test_a_kernel_of_another_coordizer_is_flagged_refused_and_rebuilt(
    make_client: MakeClient,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client: TestClient = make_client(mode_cache_seconds=0)
    for i in range(6):
        body = outcome("zeus", f"what is {i} + {i}?", success=i % 2 == 0)
        assert client.post("/api/outcomes", json=body).status_code == 202
    saved = client.post("/api/checkpoints", json={"god_name": "zeus"}).json()["result"]
    health = client.get("/api/health").json()
    assert health["representation"] is not None, health
    assert health["representation"]["stale_kernels"] == []
    old_version = health["representation"]["coordizer_version"]

    monkeypatch.setattr(coordizer, "coordize_many", Counting(coordizer.coordize_many, shift=3))
    pin_version(monkeypatch, "test-coordizer-2")
    time.sleep(1.1)  # the health probe's cache
    health = client.get("/api/health").json()
    assert health["status"] == "degraded"
    assert health["representation"]["coordizer_version"] == "test-coordizer-2"
    assert "zeus" in health["representation"]["stale_kernels"]
    assert any("pantheon db recoordize" in p for p in health["problems"])
    zeus = client.get("/api/kernels/zeus").json()
    assert (zeus["stale"], zeus["coordizer_version"]) == (True, old_version)
    refused = client.post(f"/api/checkpoints/{saved['checkpoint_id']}/restore")
    assert refused.status_code == 409
    assert refused.json()["error"] == "representation_mismatch"
    assert "cannot be restored" in refused.json()["detail"]
    # Intake still accepts (the outcome waits, durable), routing still answers.
    assert client.post("/api/outcomes", json=outcome("zeus", "later")).status_code == 202
    assert client.post("/api/route", json={"prompt": "what is 9 + 9?"}).status_code == 200

    monkeypatch.setenv("DATABASE_URL", postgres_url)
    assert main(["--log-level", "WARNING", "db", "recoordize"]) == 0
    out = capsys.readouterr().out
    assert "coordizer test-coordizer-2: 7 basins recomputed" in out
    assert "zeus" in out
    assert main(["--log-level", "WARNING", "db", "recoordize"]) == 0
    assert "0 basins recomputed; kernels rebuilt: none" in capsys.readouterr().out
    time.sleep(1.1)
    health = client.get("/api/health").json()
    assert health["representation"]["stale_kernels"] == []
    assert client.get("/api/kernels/zeus").json()["stale"] is False


def test_a_web_with_the_static_coordizer_routes_and_trains_on_static_basins(
    make_client: MakeClient, postgres_url: str
) -> None:
    """``PANTHEON_COORDIZER=static``: the web's health, decisions and stored basins carry
    the static table's version, and a linked outcome trains on its route's basin."""
    try:
        client: TestClient = make_client(mode_cache_seconds=0, coordizer="static")
        version = str(coordizer.COORDIZER_VERSION)
        assert version.startswith(coordizer.METHODS[CoordizerKind.STATIC] + ":")
        health = client.get("/api/health").json()
        assert health["representation"]["coordizer_version"] == version
        routed = client.post("/api/route", json={"prompt": "Write a haiku about autumn rain"})
        assert routed.status_code == 200, routed.text
        decision_id, god = routed.json()["decision_id"], routed.json()["god_name"]
        body = outcome(god, "Write a haiku about autumn rain")
        posted = client.post("/api/outcomes", json={**body, "decision_id": decision_id})
        assert posted.status_code == 202, posted.text
        assert client.get(f"/api/decisions/{decision_id}").status_code == 200
        engine = sa.create_engine(postgres_url)
        try:
            with engine.connect() as conn:
                made = conn.execute(sa.text("SELECT coordizer_version FROM decisions")).scalars()
                stored = conn.execute(sa.text("SELECT coordizer_version FROM outcomes")).scalars()
                assert (set(made), set(stored)) == ({version}, {version})
        finally:
            engine.dispose()
        kernel = client.get(f"/api/kernels/{god}").json()
        assert (kernel["stale"], kernel["coordizer_version"]) == (False, version)
    finally:
        coordizer.use(CoordizerKind.ENCODER)
