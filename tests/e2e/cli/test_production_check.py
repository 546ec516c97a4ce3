"""Every entry point refuses a bad production config: a message naming each problem,
status != 0, and nothing touched (no SQLite file, no migration, no queue consumed).

Each case runs the real command as its own process; before the check existed, ``worker``,
``beat`` and their ``celery -A`` forms started and consumed, and ``db upgrade`` created and
migrated a local SQLite file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pantheon.testing import Proc, clean_environ, free_port

pytestmark = pytest.mark.e2e

PANTHEON = [sys.executable, "-m", "pantheon"]
CELERY = [sys.executable, "-m", "celery", "-A", "pantheon.worker.celery_app"]
GOOD_TOKEN = "a-production-token-0123456789abcdef"
#: A refused start exits at once; a started service would still be running at this point.
TIMEOUT = 60


def production_env(data_dir: Path, **extra: str) -> dict[str, str]:
    values = {"PANTHEON_ENV": "production", "PANTHEON_DATA_DIR": str(data_dir)}
    return clean_environ("PORT", "CRON_SECRET", **{**values, **extra})


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a started worker's pool children go down with it
    ) as proc:
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:  # it started: the check did not stop it
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"{' '.join(argv[2:])} was still running after {TIMEOUT}s: {err!r}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def touched(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name != "outcomes.jsonl")


ENTRY_POINTS = {
    "worker": [*PANTHEON, "worker"],
    "beat": [*PANTHEON, "beat"],
    "celery-worker": [*CELERY, "worker", "--loglevel", "INFO"],
    "celery-beat": [*CELERY, "beat", "--loglevel", "INFO"],
    "serve": [*PANTHEON, "serve", "--port", "0"],
    "up": [*PANTHEON, "up", "--port", "0"],
    "db-upgrade": [*PANTHEON, "db", "upgrade"],
    "db-downgrade": [*PANTHEON, "db", "downgrade"],
    "db-current": [*PANTHEON, "db", "current"],
    "replay": [*PANTHEON, "replay", "outcomes.jsonl"],
}
NEEDS_BROKER = {"worker", "beat", "celery-worker", "celery-beat"}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_no_token_no_database_is_refused_and_touches_nothing(tmp_path: Path, name: str) -> None:
    (tmp_path / "outcomes.jsonl").write_text(
        '{"god_name": "athena", "prompt": "p", "response": "r", "success": true}\n'
    )
    data_dir = tmp_path / "data"
    done = run(ENTRY_POINTS[name], tmp_path, production_env(data_dir))
    assert done.returncode != 0, done.stderr
    err = done.stderr
    assert "PANTHEON_ENV=production refuses to start" in err, err
    assert "DATABASE_URL is not set" in err
    assert "PANTHEON_API_TOKEN is not set" in err
    assert ("REDIS_URL or CELERY_BROKER_URL" in err) == (name in NEEDS_BROKER), err
    # Nothing created: no data directory, no SQLite file, no checkpoint directory.
    assert not data_dir.exists(), touched(tmp_path)
    assert touched(tmp_path) == [], touched(tmp_path)
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["worker", "celery-worker", "celery-beat", "db-upgrade"])
def test_sqlite_url_and_a_short_token_are_named(tmp_path: Path, name: str) -> None:
    env = production_env(
        tmp_path / "data",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}",
        PANTHEON_API_TOKEN="changeme",
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    done = run(ENTRY_POINTS[name], tmp_path, env)
    assert done.returncode != 0
    assert "DATABASE_URL points at SQLite" in done.stderr, done.stderr
    assert "PANTHEON_API_TOKEN is a default or shorter than 16" in done.stderr
    assert "changeme" not in done.stderr.replace("PANTHEON_", "")
    assert "REDIS_URL or CELERY_BROKER_URL" not in done.stderr  # set explicitly: no complaint
    assert not (tmp_path / "prod.db").exists()


def test_a_good_production_config_gets_past_the_check(tmp_path: Path) -> None:
    """The check refuses only what is wrong: ``db current`` with a PostgreSQL URL and a
    strong token reaches the database (an unreachable one here, so it fails there)."""
    env = production_env(
        tmp_path / "data",
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        PANTHEON_API_TOKEN=GOOD_TOKEN,
    )
    done = run(ENTRY_POINTS["db-current"], tmp_path, env)
    assert "refuses to start" not in done.stderr, done.stderr
    assert not (tmp_path / "data").exists()


def test_a_platform_port_binds_every_interface(tmp_path: Path) -> None:
    """Started as Railway starts it (``PORT`` set, no ``PANTHEON_HOST``), the web service
    listens on 0.0.0.0, not on the container's loopback."""
    port = free_port()
    env = production_env(tmp_path / "data", PORT=str(port), PANTHEON_ENV="development")
    proc = Proc("up", [*PANTHEON, "up"], env, tmp_path / "up.log", cwd=tmp_path).start()
    try:
        proc.wait_for_log("Uvicorn running on", timeout=TIMEOUT)
        assert f"Uvicorn running on http://0.0.0.0:{port}" in proc.log_text(), proc.log_text()
    finally:
        proc.stop(30)
