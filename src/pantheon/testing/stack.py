"""Real processes on their own services: one harness for tests and benchmarks.

A :class:`Stack` owns a run directory and the services its processes use: by default its
own ``redis-server`` and PostgreSQL cluster on free loopback ports, so stopping or
restarting them disturbs nothing else on the machine; or services the caller already has
(``redis="redis://…/3"``, ``postgres="postgresql+psycopg://…"``), or none (``redis=None``
for a web in sync mode; ``postgres=None`` for SQLite in the run directory).
``rabbitmq=True`` adds a private vhost on the machine's RabbitMQ as the broker. It starts
the product's real processes with an environment built from those services (plus any
``PANTHEON_*`` overrides), logs each to ``<run_dir>/<name>-<n>.log``, waits until they
answer, and kills them on demand::

    with Stack(run_dir) as stack:                      # private Redis + PostgreSQL
        stack.migrate()                                # pantheon db upgrade
        web = stack.serve({"PANTHEON_TASK_MODE": "celery"})   # waits for /api/health
        worker = stack.worker(concurrency=2)           # celery worker, waits for ping
        beat = stack.beat()
        httpx.post(web.url + "/api/outcomes", json=...)
        worker.kill_pool_child()                       # SIGKILL one prefork child
        worker.kill() / worker.stop()                  # SIGKILL group / SIGTERM (warm)
        stack.redis.restart(down_for=5)                # broker blip
        stack.postgres.restart(mode="immediate")       # database crash
        stack.new_database(); stack.reset_broker()     # a clean slate for the next run

Processes run in ``cwd`` (the current directory by default: the checkout's root under
``pytest`` and ``python -m benchmarks.…``), which is also put on their ``PYTHONPATH`` so
that ``celery -A tests.fake_app`` or ``-A benchmarks.faults`` import. Everything is
bounded: every wait has a timeout; :meth:`Stack.close` kills what it started (the process
groups it created) and removes the private services.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from kombu.connection import Connection

from pantheon.config import Settings
from pantheon.testing.procs import LOOPBACK, Proc, StackError, free_port, wait_until
from pantheon.testing.services import PostgresCluster, RabbitVhost, RedisServer
from pantheon.worker.queues import QUEUES

VENV_BIN = Path(sys.executable).parent
#: Variables the harness sets itself; the caller's values would leak into the processes.
OWN_VARIABLES = (
    "PANTHEON_",
    "CELERY_",
    "REDIS_URL",
    "DATABASE_URL",
    "TRAINING_ENABLED",
    "CHECKPOINT_DIR",
)


def clean_environ(*drop: str, **extra: str) -> dict[str, str]:
    """The caller's environment without the variables the harness sets itself (and the
    names in ``drop``), plus ``extra``: what a fresh shell of a new user would pass."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    for name in drop:
        env.pop(name, None)
    env.update(extra)
    return env


class Stack:
    """Services plus the product's processes, all under one run directory.

    ``postgres``: True for a private cluster (restartable), a URL to use an existing
    database, or None for SQLite in the run directory. ``redis``: True for a private
    server (restartable; database 0 for the broker, 1 for results), a URL for an existing
    database (broker and results both), or None for none. ``rabbitmq=True`` makes a
    private vhost on the machine's RabbitMQ the broker; ``broker_url`` names any other
    broker. ``env`` adds or overrides variables (``PANTHEON_*`` settings) for every process.
    """

    #: The Celery app of :meth:`worker` and :meth:`celery_cli` unless they name another.
    celery_app = "pantheon.worker.celery_app"

    def __init__(
        self,
        run_dir: Path | str | None = None,
        *,
        postgres: bool | str | None = True,
        redis: bool | str | None = True,
        redis_persist: bool = False,
        broker_url: str | None = None,
        rabbitmq: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix="pantheon-stack-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.cwd = cwd or Path.cwd()
        self.procs: list[Proc] = []
        self._spawned = 0
        self.redis: RedisServer | None = None
        self.redis_url: str | None = None
        self.result_backend: str | None = None
        if redis is True:
            self.redis = RedisServer(self.run_dir, persist=redis_persist)
            self.redis.start()
            self.redis_url, self.result_backend = self.redis.url(0), self.redis.url(1)
        elif isinstance(redis, str):
            self.redis_url = self.result_backend = redis
        self.postgres: PostgresCluster | None = None
        if postgres is True:
            self.postgres = PostgresCluster(self.run_dir)
            self.postgres.start()
            self.database_url = self.postgres.create_database("pantheon")
        elif isinstance(postgres, str):
            self.database_url = postgres
        else:
            self.database_url = f"sqlite:///{self.run_dir / 'pantheon.db'}"
        self.rabbit = RabbitVhost() if rabbitmq else None
        self.broker_url = broker_url or (self.rabbit.url() if self.rabbit else self.redis_url)
        self.extra_env: dict[str, str] = dict(env or {})

    # context manager ---------------------------------------------------------------
    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process started here, then the private services."""
        self.kill_processes()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.stop(hard=True)
        if self.postgres is not None:
            self.postgres.destroy(keep_log=self.run_dir / "postgres.log")
        if self.rabbit is not None:
            self.rabbit.delete()

    def kill_processes(self) -> None:
        """SIGKILL every product process started so far (services keep running)."""
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.kill()
        self.procs.clear()

    def own_redis(self) -> RedisServer:
        """The stack's private Redis, for what only a private one allows (stopping it,
        flushing it, reading its pid); a stack given another Redis has none."""
        if self.redis is None:
            raise StackError("this needs the stack's private Redis")
        return self.redis

    def reset_broker(self) -> None:
        """Empty the private Redis and the broker's queues: nothing of one run leaks into
        the next."""
        self.own_redis().flush()
        if self.rabbit is not None:
            for queue in QUEUES:
                with contextlib.suppress(Exception):
                    self.queue_depth(queue, purge=True)

    def queue_depth(self, queue: str, purge: bool = False) -> int:
        """Messages ready in ``queue`` on the broker (optionally purging them)."""
        if self.broker_url is None:
            raise StackError("the stack has no broker")
        if self.rabbit is None:  # Redis: a queue is a list, absent when empty
            client = redis.Redis.from_url(self.broker_url)
            try:
                depth = int(client.llen(queue))
                if purge:
                    client.delete(queue)
                return depth
            finally:
                client.close()
        with Connection(self.broker_url, connect_timeout=5) as conn:
            channel = conn.default_channel
            if purge:
                return int(channel.queue_purge(queue) or 0)
            return int(channel.queue_declare(queue=queue, passive=True).message_count)

    def new_database(self, migrate: bool = True) -> str:
        """Point later processes at a fresh, migrated database; return its URL."""
        if self.postgres is not None:
            self.database_url = self.postgres.create_database()
        elif self.database_url.startswith("sqlite"):
            self.database_url = f"sqlite:///{self.run_dir / f'pantheon-{uuid.uuid4().hex[:8]}.db'}"
        else:
            raise StackError("new_database needs a private cluster or SQLite")
        if migrate:
            self.migrate()
        return self.database_url

    # environment ---------------------------------------------------------------------
    def env(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment every process gets: services, a private data dir, test mode."""
        env = clean_environ()
        services = {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_RESULT_BACKEND": self.result_backend,
        }
        env.update({name: value for name, value in services.items() if value is not None})
        env.update(
            PANTHEON_ENV="test",
            PANTHEON_DATA_DIR=str(self.run_dir / "data"),
            PANTHEON_LOG_LEVEL="INFO",
            PYTHONPATH=os.pathsep.join([str(self.cwd), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        env.update(overrides or {})
        return env

    def settings(self) -> Settings:
        """The ``Settings`` the stack's processes read (for in-process checks)."""
        own = {k: v for k, v in self.env().items() if k.startswith(OWN_VARIABLES)}
        return Settings(**own)  # type: ignore[arg-type]  # validated by their aliases

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Proc:
        """Start ``argv`` with the stack's environment (plus ``env``); one log per process."""
        self._spawned += 1
        unique = f"{name}-{self._spawned}"  # one log file per process, never reused
        log = self.run_dir / f"{unique}.log"
        proc = Proc(unique, argv, self.env(env), log, cwd=self.cwd)
        self.procs.append(proc.start())
        return proc

    def run_cli(
        self, *args: str, timeout: float = 120, env: Mapping[str, str] | None = None
    ) -> str:
        """Run ``pantheon <args>`` to completion; return its output (raises on failure)."""
        done = subprocess.run(
            [str(VENV_BIN / "pantheon"), *args],
            env=self.env(env),
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"pantheon {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout + done.stderr

    def celery_cli(self, *args: str, app: str | None = None, timeout: float = 60) -> str:
        """Run ``celery -A <app> <args>`` to completion; return its output, whatever the
        exit code (``inspect`` exits 1 when no node answers)."""
        done = subprocess.run(
            [str(VENV_BIN / "celery"), "-A", app or self.celery_app, *args],
            env=self.env(),
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return done.stdout + done.stderr

    def migrate(self) -> None:
        """``pantheon db upgrade`` against the stack's database."""
        try:
            self.run_cli("db", "upgrade")
        except StackError as exc:
            if "invalid choice" not in str(exc):
                raise
            # An older checkout without the ``db`` command: the same call, in a subprocess.
            code = "from pantheon.config import Settings\n"
            code += "from pantheon.store.migrate import upgrade\nupgrade(Settings())"
            subprocess.run(
                [sys.executable, "-c", code],
                env=self.env(),
                cwd=self.cwd,
                check=True,
                capture_output=True,
                timeout=120,
            )

    # the product's processes ---------------------------------------------------------
    def serve(
        self,
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        wait: bool = True,
        health_statuses: Iterable[int] = (200,),
        argv: Iterable[str] | None = None,
        name: str = "web",
    ) -> Proc:
        """``pantheon serve`` (or ``argv`` + ``--host``/``--port``) on a free loopback port;
        waits until health answers one of ``health_statuses`` (``(200, 503)``: just up,
        database or not)."""
        port = port or free_port()
        command = list(argv or [str(VENV_BIN / "pantheon"), "serve"])
        command += ["--host", LOOPBACK, "--port", str(port)]
        proc = self.spawn(name, command, {"PORT": str(port), **(env or {})})
        proc.url, proc.port = f"http://{LOOPBACK}:{port}", port
        if wait:
            proc.wait_healthy(statuses=health_statuses)
        return proc

    def worker(
        self,
        env: Mapping[str, str] | None = None,
        *,
        concurrency: int = 2,
        queues: Iterable[str] = QUEUES,
        app: str | None = None,
        name: str = "worker",
        wait: bool = True,
        extra_args: Iterable[str] = (),
    ) -> Proc:
        """A Celery worker (``celery -A <app> worker``) with a unique node name.

        ``app="benchmarks.faults"`` runs the same app with fault hooks (commit delays);
        ``app="tests.fake_app"`` the real tasks over the tests' fake service.
        """
        node = f"{name}-{uuid.uuid4().hex[:6]}@{LOOPBACK}"
        argv = [
            str(VENV_BIN / "celery"),
            "-A",
            app or self.celery_app,
            "worker",
            "-Q",
            ",".join(queues),
            "--concurrency",
            str(concurrency),
            "-n",
            node,
            "--loglevel",
            "INFO",
            "--without-gossip",
            *extra_args,
        ]
        proc = self.spawn(name, argv, env)
        proc.url = node  # the node name, for inspect/ping
        if wait:
            self.wait_worker(proc)
        return proc

    def pantheon(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Proc:
        """``pantheon <args>`` exactly as deployed (the real CLI), no readiness wait."""
        return self.spawn(name, [str(VENV_BIN / "pantheon"), *args], env)

    def beat(
        self,
        env: Mapping[str, str] | None = None,
        *,
        name: str = "beat",
        args: Iterable[str] = (),
        app: str | None = None,
    ) -> Proc:
        """``pantheon beat`` (Beat behind the Redis leader lock), or ``celery -A <app>
        beat`` with a schedule file of its own; no readiness wait."""
        if app is None:
            return self.pantheon(name, "beat", *args, env=env)
        schedule = self.run_dir / f"{name}-{self._spawned + 1}-schedule"
        argv = [str(VENV_BIN / "celery"), "-A", app, "beat", "-l", "INFO"]
        return self.spawn(name, [*argv, "--schedule", str(schedule), *args], env)

    # readiness -------------------------------------------------------------------------
    def control_app(self) -> Any:
        """A bare Celery app on the same broker, for ping/inspect without the product."""
        capp = Celery("stack-control", broker=self.broker_url)
        capp.conf.update(
            accept_content=["json"],
            task_serializer="json",
            result_serializer="json",
            broker_connection_retry_on_startup=False,
        )
        return capp

    def ping(self, node: str | None = None, timeout: float = 1.0) -> list[dict[str, Any]]:
        """Replies of ``celery inspect ping`` (optionally one node only)."""
        capp = self.control_app()
        try:
            dest = [node] if node else None
            return list(capp.control.ping(destination=dest, timeout=timeout) or [])
        finally:
            capp.close()

    def active(self, timeout: float = 1.0) -> dict[str, list[dict[str, Any]]]:
        """``inspect active``: node -> tasks being executed (each has ``worker_pid``)."""
        capp = self.control_app()
        try:
            return dict(capp.control.inspect(timeout=timeout).active() or {})
        finally:
            capp.close()

    def wait_worker(self, worker: Proc, timeout: float = 90) -> None:
        def ready() -> bool:
            if not worker.alive():
                raise StackError(f"{worker.name} exited; see {worker.log_path}")
            return " ready." in worker.log_text() and bool(self.ping(worker.url, 1.0))

        try:
            wait_until(ready, timeout, 0.5, what=f"{worker.name} ping")
        except StackError as exc:
            raise StackError(f"{exc}\n{worker.log_text()[-3000:]}") from None
