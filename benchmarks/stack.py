"""Real processes on private services, for fault-injection and benchmark runs.

A :class:`Stack` owns a run directory, its own ``redis-server`` and (by default) its own
PostgreSQL cluster on free loopback ports, so stopping or restarting them disturbs nothing
else on the machine; ``rabbitmq=True`` adds a private vhost on the machine's RabbitMQ as
the broker. It starts the product's real processes with an environment built from those
services (plus any ``PANTHEON_*`` overrides), logs each to ``<run_dir>/<name>-<n>.log``,
waits until they answer, and kills them on demand::

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

Public pieces: :class:`Stack` (``serve``, ``worker``, ``pantheon_worker``, ``beat``,
``migrate``, ``run_cli``, ``env``, ``settings``, ``ping``, ``active``, ``control_app``,
``queue_depth``, ``kill_processes``, ``close``), :class:`Proc` (``pid``, ``alive``,
``send``, ``kill``, ``stop``, ``pool_children``, ``kill_pool_child``, ``rss``,
``log_text``), :class:`RedisServer`, :class:`PostgresCluster`, :class:`RabbitVhost`, and
the helpers :func:`free_port`, :func:`wait_until`, :func:`descendants`, :func:`rss_bytes`.
Everything is bounded: every wait has a timeout; :meth:`Stack.close` kills what it started
(the process groups it created) and removes the private services.
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

from benchmarks.stack_procs import (
    LOOPBACK,
    QUEUES,
    ROOT,
    VENV_BIN,
    Proc,
    StackError,
    descendants,
    free_port,
    port_open,
    rss_bytes,
    wait_until,
)
from benchmarks.stack_services import PostgresCluster, RabbitVhost, RedisServer

__all__ = [
    "LOOPBACK",
    "QUEUES",
    "ROOT",
    "VENV_BIN",
    "PostgresCluster",
    "Proc",
    "RabbitVhost",
    "RedisServer",
    "Stack",
    "StackError",
    "descendants",
    "free_port",
    "port_open",
    "rss_bytes",
    "wait_until",
]


# --- the stack ----------------------------------------------------------------------
class Stack:
    """Private services plus the product's processes, all under one run directory.

    ``postgres``: True for a private cluster (restartable), a URL to use an existing
    database, or None for SQLite in the run directory. ``rabbitmq=True`` makes a private
    vhost on the machine's RabbitMQ the broker; ``broker_url`` names any other broker. The
    private Redis still serves results and Beat's lock either way.
    ``env`` adds or overrides variables (``PANTHEON_*`` settings) for every process.
    """

    def __init__(
        self,
        run_dir: Path | str | None = None,
        *,
        postgres: bool | str | None = True,
        redis_persist: bool = False,
        broker_url: str | None = None,
        rabbitmq: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix="pantheon-stack-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        self._spawned = 0
        self.redis = RedisServer(self.run_dir, persist=redis_persist)
        self.redis.start()
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
        self.broker_url = broker_url or (self.rabbit.url() if self.rabbit else self.redis.url(0))
        self.extra_env: dict[str, str] = dict(env or {})

    # context manager ---------------------------------------------------------------
    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process started here, then the private services."""
        self.kill_processes()
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

    def reset_broker(self) -> None:
        """Empty Redis and the broker's queues: nothing of one run leaks into the next."""
        self.redis.flush()
        if self.rabbit is not None:
            for queue in QUEUES:
                with contextlib.suppress(Exception):
                    self.queue_depth(queue, purge=True)

    def queue_depth(self, queue: str, purge: bool = False) -> int:
        """Messages ready in ``queue`` on the broker (optionally purging them)."""
        if self.rabbit is None:  # Redis: a queue is a list, absent when empty
            import redis

            client = redis.Redis.from_url(self.broker_url)
            try:
                depth = int(client.llen(queue))
                if purge:
                    client.delete(queue)
                return depth
            finally:
                client.close()
        from kombu.connection import Connection

        with Connection(self.broker_url, connect_timeout=5) as conn:  # type: ignore[no-untyped-call]
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
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PANTHEON_", "CELERY_"))}
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis.url(0),
            CELERY_BROKER_URL=self.broker_url,
            CELERY_RESULT_BACKEND=self.redis.url(1),
            PANTHEON_ENV="test",
            PANTHEON_DATA_DIR=str(self.run_dir / "data"),
            PANTHEON_LOG_LEVEL="INFO",
            PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        env.update(overrides or {})
        return env

    def settings(self, **overrides: Any) -> Any:
        """A ``pantheon.config.Settings`` for the same services (for in-process checks)."""
        from pantheon.config import Settings

        values: dict[str, Any] = {
            "database_url_raw": self.database_url,
            "redis_url": self.redis.url(0),
            "celery_broker_url_raw": self.broker_url,
            "celery_result_backend_raw": self.redis.url(1),
            "env": "test",
            "data_dir": self.run_dir / "data",
        }
        values.update(overrides)
        return Settings(**values)

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str], **kw: Any) -> Proc:
        self._spawned += 1
        unique = f"{name}-{self._spawned}"  # one log file per process, never reused
        proc = Proc(unique, argv, self.env(env), self.run_dir / f"{unique}.log", **kw)
        self.procs.append(proc.start())
        return proc

    def run_cli(
        self, *args: str, timeout: float = 120, env: Mapping[str, str] | None = None
    ) -> str:
        """Run ``pantheon <args>`` to completion; return its output (raises on failure)."""
        done = subprocess.run(
            [str(VENV_BIN / "pantheon"), *args],
            env=self.env(env),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"pantheon {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout + done.stderr

    def migrate(self) -> None:
        """``pantheon db upgrade`` against the stack's database."""
        try:
            self.run_cli("db", "upgrade")
        except StackError as exc:
            if "invalid choice" not in str(exc):
                raise
            # A checkout without the ``db`` command yet: the same call, in a subprocess.
            code = "from pantheon.config import Settings\n"
            code += "from pantheon.store.migrate import upgrade\nupgrade(Settings())"
            subprocess.run(
                [sys.executable, "-c", code],
                env=self.env(),
                cwd=ROOT,
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
    ) -> Proc:
        """``pantheon serve`` on a free loopback port; waits until health answers one of
        ``health_statuses`` (``(200, 503)``: just up, database or not)."""
        port = port or free_port()
        argv = [str(VENV_BIN / "pantheon"), "serve", "--host", LOOPBACK, "--port", str(port)]
        proc = self._spawn(
            "web",
            argv,
            {"PORT": str(port), **(env or {})},
            url=f"http://{LOOPBACK}:{port}",
            port=port,
        )
        if wait:
            self.wait_web(proc, statuses=health_statuses)
        return proc

    def worker(
        self,
        env: Mapping[str, str] | None = None,
        *,
        concurrency: int = 2,
        queues: Iterable[str] = QUEUES,
        app: str = "pantheon.worker.celery_app",
        name: str = "worker",
        wait: bool = True,
        extra_args: Iterable[str] = (),
    ) -> Proc:
        """A Celery worker (``celery -A <app> worker``) with a unique node name.

        ``app="benchmarks.faults"`` runs the same app with fault hooks (commit delays).
        """
        node = f"{name}-{uuid.uuid4().hex[:6]}@{LOOPBACK}"
        argv = [
            str(VENV_BIN / "celery"),
            "-A",
            app,
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
        proc = self._spawn(name, argv, env or {})
        proc.url = node  # the node name, for inspect/ping
        if wait:
            self.wait_worker(proc)
        return proc

    def pantheon_worker(
        self, env: Mapping[str, str] | None = None, args: Iterable[str] = ()
    ) -> Proc:
        """``pantheon worker`` exactly as deployed (no node name control, no readiness wait)."""
        argv = [str(VENV_BIN / "pantheon"), "worker", *args]
        return self._spawn("pworker", argv, env or {})

    def beat(
        self, env: Mapping[str, str] | None = None, *, name: str = "beat", args: Iterable[str] = ()
    ) -> Proc:
        """``pantheon beat`` (Beat behind the Redis leader lock); no readiness wait."""
        return self._spawn(name, [str(VENV_BIN / "pantheon"), "beat", *args], env or {})

    # readiness -------------------------------------------------------------------------
    def wait_web(self, web: Proc, timeout: float = 60, statuses: Iterable[int] = (200,)) -> None:
        import httpx

        wanted = set(statuses)

        def ready() -> bool:
            if not web.alive():
                raise StackError(f"{web.name} exited; see {web.log_path}")
            return httpx.get(web.url + "/api/health", timeout=2).status_code in wanted

        try:
            wait_until(ready, timeout, 0.2, what=f"{web.name} health")
        except StackError as exc:
            raise StackError(f"{exc}\n{web.log_text()[-3000:]}") from None

    def control_app(self) -> Any:
        """A bare Celery app on the same broker, for ping/inspect without the product."""
        from celery import Celery

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
