"""Shared fixtures: real services, fresh databases, settings.

A test that needs PostgreSQL, Redis or RabbitMQ asks for the fixture; when the service is
not reachable the test is skipped with a loud reason locally, and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pantheon.api.app import create_app
from pantheon.config import Settings
from pantheon.store.db import Database
from pantheon.store.migrate import ensure_schema
from pantheon.testing import port_open
from pantheon.training.service import TrainingService
from tests.fuzz_profiles import CASES, PROFILE

PG_HOST = os.environ.get("PANTHEON_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PANTHEON_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("PANTHEON_TEST_PG_USER", "postgres")
REDIS_HOST = os.environ.get("PANTHEON_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("PANTHEON_TEST_REDIS_PORT", "6379"))
RABBIT_URL = os.environ.get("PANTHEON_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "routellm"
OUTPUT_DIR = Path(__file__).resolve().parents[1] / "test-output"


def require_service(name: str, host: str, port: int) -> None:
    """Skip (locally) or fail (CI=true) when a service does not answer."""
    if port_open(port, host, timeout=1.0):
        return
    reason = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: services are required)")
    pytest.skip(f"!!! SKIPPED: {reason}; start it with scripts/services !!!")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}"


def _create_database(server: str) -> str:
    name = f"pantheon_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name


def _drop_database(server: str, name: str) -> None:
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = _create_database(postgres_server)
    try:
        yield f"{postgres_server}/{name}"
    finally:
        _drop_database(postgres_server, name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pantheon.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Runs a test once on SQLite and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pantheon.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = _create_database(server)
    try:
        yield f"{server}/{name}"
    finally:
        _drop_database(server, name)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number of its own, flushed before and after the test."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    db = 1 + (os.getpid() % 14)
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def rabbitmq_url() -> str:
    require_service("RabbitMQ", "127.0.0.1", 5672)
    return RABBIT_URL


@pytest.fixture
def make_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings for a test: isolated data dir, sync mode, unless overridden."""

    def _make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "env": "test",
            "data_dir": tmp_path / "data",
            "task_mode": "sync",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return _make


@pytest.fixture
def open_service() -> Iterator[Callable[[Settings], TrainingService]]:
    """``open_service(settings)``: a TrainingService on a Database of its own (schema at
    head); every database opened is disposed of when the test ends."""
    made: list[Database] = []

    def _open(settings: Settings) -> TrainingService:
        ensure_schema(settings)
        db = Database(settings)
        made.append(db)
        return TrainingService(settings, database=db)

    yield _open
    for db in made:
        db.dispose()


@pytest.fixture
def open_client() -> Iterator[Callable[..., TestClient]]:
    """``open_client(settings, schema=True)``: the real app in a started TestClient (server
    errors answered, not raised); ``schema=False`` leaves the database as it is."""
    clients: list[TestClient] = []

    def _open(settings: Settings, schema: bool = True) -> TestClient:
        if schema:
            ensure_schema(settings)
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield _open
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def routellm_dir() -> Path:
    """The real RouteLLM outcome data beside the project (only in the dev checkout)."""
    if not SHARED_DATA.exists():
        pytest.skip(f"!!! SKIPPED: {SHARED_DATA} not present !!!")
    return SHARED_DATA


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many generated cases each property and fuzz test ran."""
    if CASES:
        terminalreporter.write_sep("-", f"fuzz cases ({PROFILE} profile)")
        for name, n in sorted(CASES.items()):
            terminalreporter.write_line(f"{name}: {n}")
        terminalreporter.write_line(f"total: {sum(CASES.values())}")
