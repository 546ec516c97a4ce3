"""Real processes on private services, for fault-injection and benchmark runs.

A :class:`Stack` owns a run directory, its own ``redis-server`` and (optionally) its own
PostgreSQL cluster on free loopback ports, so killing or restarting them disturbs nothing
else on the machine. It starts the product's real processes — ``pantheon serve``, a Celery
worker, ``pantheon beat`` — with an environment built from those services, logs each to
``<run_dir>/<name>.log``, waits until they answer, and kills them on demand::

    with Stack(run_dir, postgres=True) as stack:
        stack.migrate()
        web = stack.serve()
        worker = stack.worker(concurrency=2)
        stack.wait_worker(worker)
        post(web.url + "/api/outcomes", ...)
        worker.kill_pool_child()          # SIGKILL one prefork child
        stack.redis.restart()             # broker blip
        stack.postgres.restart()          # database blip

Everything is bounded: every wait has a timeout; :meth:`Stack.close` stops what it
started (SIGTERM, then SIGKILL of the process group it created).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
QUEUES = ("training_fast", "training_batch", "training_slow")
LOOPBACK = "127.0.0.1"


# --- small helpers ------------------------------------------------------------------
class StackError(RuntimeError):
    """A process of the stack died or a service would not start: stop waiting at once."""


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns a truthy value; raise TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except StackError:
            raise
        except Exception:  # not ready yet (connection refused, timeout, ...)
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _ppid(pid: int) -> int | None:
    """Parent pid from /proc, None when gone or a zombie (dead, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces or parentheses: parse after the last ')'.
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else int(ppid)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (read from /proc), parents before children."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ppid = _ppid(int(entry.name))
            if ppid is not None:
                parent_of[int(entry.name)] = ppid
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop(0)
        kids = sorted(p for p, pp in parent_of.items() if pp == current)
        found.extend(kids)
        frontier.extend(kids)
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --- a managed process --------------------------------------------------------------
@dataclass
class Proc:
    """One process the stack started, in a session (process group) of its own."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    url: str = ""
    port: int = 0
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """Exit code, or None if still running after ``timeout`` seconds."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL the whole process group (the process and its pool children)."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (warm shutdown for a worker), then SIGKILL after ``timeout``."""
        if self.popen is None:
            return None
        if self.alive():
            self.send(signal.SIGTERM)
            code = self.wait(timeout)
            if code is not None:
                self._reap_group()
                return code
        self.kill()
        return self.popen.returncode

    def _reap_group(self) -> None:
        # Pool children left behind by a parent that died get the group's SIGKILL.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def children(self) -> list[int]:
        return descendants(self.pid) if self.alive() else []

    def pool_children(self) -> list[int]:
        """Leaf descendants: a prefork worker's pool processes."""
        kids = self.children()
        return [p for p in kids if not any(_ppid(q) == p for q in kids)]

    def kill_pool_child(self, pid: int | None = None, sig: int = signal.SIGKILL) -> int:
        """Signal one pool child (``pid`` or the first one); return its pid."""
        target = pid if pid is not None else wait_until(self.pool_children, 30, what="pool")[0]
        os.kill(target, sig)
        return int(target)

    def rss(self) -> int:
        """RSS of the process and all its descendants, in bytes."""
        if not self.alive():
            return 0
        return rss_bytes(self.pid) + sum(rss_bytes(p) for p in self.children())

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


# --- private services ---------------------------------------------------------------
class RedisServer:
    """A private ``redis-server`` on a free port; ``persist`` keeps data across restarts."""

    def __init__(self, run_dir: Path, persist: bool = False, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = run_dir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.persist = persist
        self.proc: Proc | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def start(self, timeout: float = 15) -> None:
        argv = [shutil.which("redis-server") or "redis-server", "--port", str(self.port)]
        argv += ["--bind", LOOPBACK, "--dir", str(self.dir), "--save", ""]
        argv += ["--appendonly", "yes" if self.persist else "no", "--protected-mode", "no"]
        self.proc = Proc("redis", argv, dict(os.environ), self.dir.parent / "redis.log").start()
        wait_until(lambda: port_open(self.port), timeout, what=f"redis on {self.port}")

    def stop(self, hard: bool = False) -> None:
        if self.proc is not None:
            if hard:
                self.proc.kill()
            else:
                self.proc.stop(10)
            wait_until(lambda: not port_open(self.port), 10, what="redis to close")

    def restart(self, down_for: float = 0.0, hard: bool = False) -> None:
        self.stop(hard=hard)
        time.sleep(down_for)
        self.start()

    def flush(self) -> None:
        """Empty every database (queues, results, Beat locks) between runs."""
        import redis

        client = redis.Redis.from_url(self.url(0))
        try:
            client.flushall()
        finally:
            client.close()


class PostgresCluster:
    """A private PostgreSQL cluster (trust auth, loopback, free port) in a temp directory.

    ``initdb`` refuses to run as root, so as root every command runs as ``postgres``.
    """

    def __init__(self, run_dir: Path, port: int | None = None) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bins:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = bins[-1].parent
        self.port = port or free_port()
        # A directory of its own, outside run_dir, owned by postgres (0700 is required).
        self.base = Path(tempfile.mkdtemp(prefix="pantheon-pg-"))
        self.data = self.base / "data"
        # The server writes its log itself, so it lives where postgres may write.
        self.log_path = self.base / "postgres.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.base, "postgres")

    def _run(self, *argv: str, timeout: float = 60) -> None:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, timeout=timeout, capture_output=True, cwd=self.base)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self, timeout: float = 60) -> None:
        if not self.data.exists():
            self.init()
        opts = f"-p {self.port} -c listen_addresses={LOOPBACK} -k {self.base} -c fsync=off"
        opts += " -c max_connections=200"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-o",
            opts,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            timeout=timeout + 10,
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (clients disconnected, clean) or ``immediate`` (a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, down_for: float = 0.0, mode: str = "fast") -> None:
        self.stop(mode)
        time.sleep(down_for)
        self.start()

    def server_url(self) -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}"

    def create_database(self, name: str | None = None) -> str:
        """Create a database; return its SQLAlchemy URL."""
        name = name or f"pantheon_{uuid.uuid4().hex[:10]}"
        self._run("createdb", "-h", LOOPBACK, "-p", str(self.port), "-U", "postgres", name)
        return f"{self.server_url()}/{name}"

    def destroy(self, keep_log: Path | None = None) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        if keep_log is not None:
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log_path, keep_log)
        shutil.rmtree(self.base, ignore_errors=True)


class RabbitVhost:
    """A private virtual host on the machine's RabbitMQ (:5672), deleted on :meth:`delete`,
    so queues of one run never mix with another's."""

    def __init__(self, port: int = 5672) -> None:
        self.name = f"pantheon-{uuid.uuid4().hex[:10]}"
        self.port = port
        ctl = shutil.which("rabbitmqctl")
        if ctl is None or not port_open(port):
            raise StackError("RabbitMQ is not available (rabbitmqctl and :5672 needed)")
        self.ctl = ctl
        self._ctl("add_vhost", self.name)
        self._ctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")

    def _ctl(self, *args: str) -> None:
        subprocess.run([self.ctl, *args], check=True, capture_output=True, timeout=60)

    def url(self) -> str:
        return f"amqp://guest:guest@{LOOPBACK}:{self.port}/{self.name}"

    def delete(self) -> None:
        with contextlib.suppress(Exception):
            self._ctl("delete_vhost", self.name)


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
