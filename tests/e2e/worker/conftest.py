"""Real worker and Beat processes for the worker's end-to-end tests.

Each process is started in its own session with its environment built here (the broker,
the fake service's SQLite file, shortened schedules), logs to a file under ``tmp_path``,
and is stopped (TERM, then KILL) when the test ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pantheon.config import Settings
from pantheon.worker.celery_app import create_celery
from tests.e2e.worker.fakes import FakeService

REPO = Path(__file__).resolve().parents[3]
CELERY = str(Path(sys.executable).with_name("celery"))
PANTHEON = str(Path(sys.executable).with_name("pantheon"))
FAKE_APP = "tests.e2e.worker.fake_app"
#: Variables the harness sets itself; the caller's values would leak into the processes.
_OWN = ("PANTHEON_", "REDIS_URL", "CELERY_", "DATABASE_URL", "TRAINING_ENABLED", "CHECKPOINT_DIR")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_log(self, needle: str, timeout: float = 30.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if needle in self.text():
                return time.monotonic() - started
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.text()[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: no {needle!r} in {timeout}s:\n{self.text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """SIGTERM the main process (a warm shutdown, as a platform does); SIGKILL the whole
        process group (the main process and its pool children at once)."""
        if self.popen.poll() is not None:
            return
        try:
            if sig == signal.SIGKILL:
                os.killpg(self.popen.pid, sig)
            else:
                os.kill(self.popen.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)


@dataclass
class Cluster:
    """Settings, environment and processes of one test."""

    tmp: Path
    env: dict[str, str]
    fake_db: Path
    procs: list[Proc] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        values = {k: v for k, v in self.env.items() if k.startswith(_OWN)}
        return Settings(**values)  # type: ignore[arg-type]

    @property
    def service(self) -> FakeService:
        return FakeService(self.fake_db)

    def app(self) -> Any:
        return create_celery(self.settings, service_factory=lambda _s: self.service)

    def _start(self, name: str, argv: list[str]) -> Proc:
        log = self.tmp / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(
            argv,
            cwd=REPO,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def worker(
        self,
        name: str = "w1",
        queues: str = "training_fast,training_batch,training_slow",
        concurrency: int = 2,
        wait: bool = True,
    ) -> Proc:
        proc = self._start(
            name,
            [
                CELERY,
                "-A",
                FAKE_APP,
                "worker",
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "-l",
                "INFO",
                "-n",
                f"{name}-{uuid.uuid4().hex[:6]}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
        )
        if wait:
            proc.wait_for_log("ready.", timeout=60)
        return proc

    def beat(self, name: str = "beat1") -> Proc:
        return self._start(
            name,
            [
                CELERY,
                "-A",
                FAKE_APP,
                "beat",
                "-l",
                "INFO",
                "--schedule",
                str(self.tmp / f"{name}-schedule"),
            ],
        )

    def pantheon(self, name: str, *args: str) -> Proc:
        """``pantheon <args>`` (the real CLI, the real training service)."""
        return self._start(name, [PANTHEON, *args])

    def celery_cli(self, *args: str, timeout: float = 60, app: str = FAKE_APP) -> str:
        done = subprocess.run(
            [CELERY, "-A", app, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return done.stdout.decode() + done.stderr.decode()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def _base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN)}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "PANTHEON_ENV": "test",
            "PANTHEON_DATA_DIR": str(tmp / "data"),
            "PANTHEON_TEST_FAKE_DB": str(tmp / "fake.db"),
            "PANTHEON_TASK_RETRY_DELAY_SCALE": "0.01",
            "PANTHEON_BEAT_LOCK_TIMEOUT": "6",
            "PANTHEON_MODE_CACHE_SECONDS": "1",
        }
    )
    return env


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
    vhost = f"pantheon_test_{uuid.uuid4().hex[:10]}"
    ctl = ["rabbitmqctl", "-q"]
    subprocess.run([*ctl, "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    subprocess.run(
        [*ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield urlsplit(base)._replace(path="/" + vhost).geturl()
    finally:
        subprocess.run([*ctl, "delete_vhost", vhost], capture_output=True, timeout=60, check=False)


@pytest.fixture
def make_cluster(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., Cluster]]:
    """``make_cluster(broker=..., **env)`` → a :class:`Cluster`; processes stop at the end."""
    made: list[Cluster] = []

    def _make(broker: str | None = None, **env: str) -> Cluster:
        values = _base_env(tmp_path)
        values["REDIS_URL"] = redis_url
        values["CELERY_RESULT_BACKEND"] = redis_url
        values["CELERY_BROKER_URL"] = broker or redis_url
        values.update(env)
        cluster = Cluster(tmp_path, values, tmp_path / "fake.db")
        FakeService(cluster.fake_db)  # create the tables before any process opens the file
        made.append(cluster)
        return cluster

    yield _make
    for cluster in made:
        cluster.stop_all()


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, step: float = 0.1) -> float:
    """Seconds until ``predicate()`` is truthy; fails the test after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")
