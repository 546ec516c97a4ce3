"""Private services for one stack: redis-server, a PostgreSQL cluster, a RabbitMQ vhost.

Part of :mod:`pantheon.testing` (import the names from there).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import redis

from pantheon.testing.procs import LOOPBACK, Proc, StackError, free_port, port_open, wait_until


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
