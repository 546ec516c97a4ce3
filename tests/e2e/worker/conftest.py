"""Real worker and Beat processes for the worker's end-to-end tests.

A :class:`Cluster` is the harness's :class:`~pantheon.testing.Stack` with the broker of the
test, the fake service's SQLite file and shortened schedules; each process logs to a file
under ``tmp_path`` and is killed when the test ends.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pantheon.testing import Proc, RabbitVhost, Stack
from pantheon.worker.celery_app import create_celery
from tests.fakes.service import FakeService

REPO = Path(__file__).resolve().parents[3]
FAKE_APP = "tests.fakes.celery_app"


class Cluster(Stack):
    """A :class:`~pantheon.testing.Stack` on the test's Redis database and a SQLite file,
    whose Celery worker and Beat run the real tasks over the fake service (``FAKE_APP``);
    ``pantheon`` processes run the real CLI and service."""

    celery_app = FAKE_APP

    def __init__(self, tmp: Path, redis_url: str, broker_url: str, env: dict[str, str]) -> None:
        super().__init__(
            tmp, postgres=None, redis=redis_url, broker_url=broker_url, env=env, cwd=REPO
        )
        self.fake_db = tmp / "fake.db"
        FakeService(self.fake_db)  # create the tables before any process opens the file

    @property
    def service(self) -> FakeService:
        return FakeService(self.fake_db)

    def app(self) -> Any:
        return create_celery(self.settings(), service_factory=lambda _s: self.service)

    def beat(self, env: Mapping[str, str] | None = None, **kw: Any) -> Proc:
        return super().beat(env, app=kw.pop("app", FAKE_APP), **kw)


def _base_env(tmp: Path) -> dict[str, str]:
    return {
        "PANTHEON_TEST_FAKE_DB": str(tmp / "fake.db"),
        "PANTHEON_TASK_RETRY_DELAY_SCALE": "0.01",
        "PANTHEON_BEAT_LOCK_TIMEOUT": "6",
        "PANTHEON_MODE_CACHE_SECONDS": "1",
    }


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest, redis_url: str) -> Iterator[str]:
    """The broker for one test: Redis (a fresh database) or RabbitMQ (a fresh vhost)."""
    if request.param == "redis":
        yield redis_url
        return
    base = request.getfixturevalue("rabbitmq_url")
    if shutil.which("rabbitmqctl") is None:
        yield base
        return
    vhost = RabbitVhost()
    try:
        yield vhost.url()
    finally:
        vhost.delete()


@pytest.fixture
def make_cluster(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., Cluster]]:
    """``make_cluster(broker=..., **env)`` → a :class:`Cluster`; processes stop at the end."""
    made: list[Cluster] = []

    def _make(broker: str | None = None, **env: str) -> Cluster:
        cluster = Cluster(tmp_path, redis_url, broker or redis_url, {**_base_env(tmp_path), **env})
        made.append(cluster)
        return cluster

    yield _make
    for cluster in made:
        cluster.close()
