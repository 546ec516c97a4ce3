"""Processes of the pipeline benchmark beyond the harness's: the baselines' servers, the
product worker as deployed, its consumer switch, py-spy, and the database it runs on."""

from __future__ import annotations

import logging
import math
import shutil
import signal
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import psycopg
from amqp.exceptions import ChannelError  # type: ignore[import-untyped]

from benchmarks.pipeline_baselines import process_rss
from benchmarks.pipeline_noop_celery import DEFAULT_QUEUE, NOOP_QUEUE
from pantheon.testing import VENV_BIN, Proc, Stack, port_open, wait_until
from pantheon.worker.celery_app import create_celery

log = logging.getLogger(__name__)

MACHINE_SERVER = "postgresql://postgres@127.0.0.1:5432"


def machine_database(choice: str) -> tuple[str | bool, str | None]:
    """(the Stack's ``postgres`` argument, the database to drop afterwards).

    ``machine``/``auto``: a fresh database on this machine's PostgreSQL (fsync on, as in
    production); ``private`` (or no server answering): the harness's own cluster.
    """
    if choice == "private" or (choice == "auto" and not port_open(5432)):
        return True, None
    name = f"pantheon_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{MACHINE_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def drop_machine_database(name: str | None) -> None:
    if not name:
        return
    with psycopg.connect(f"{MACHINE_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def serve_options() -> list[str]:
    """uvicorn options of ``pantheon serve``: ``uvicorn.run(app, host, port, log_level)``
    with the stack's ``PANTHEON_LOG_LEVEL=INFO`` (access log on, one process)."""
    return ["--log-level", "info"]


def noop_web(stack: Stack) -> Proc:
    """The no-op intake (:mod:`benchmarks.pipeline_noop_web`), served like the product."""
    argv = [str(VENV_BIN / "python"), "-m", "uvicorn", "benchmarks.pipeline_noop_web:app"]
    return stack.serve(argv=[*argv, *serve_options()], name="noop-web")


def worker_options(queues: str, node: str) -> list[str]:
    """The options ``pantheon worker`` passes to Celery (pantheon.cli.services.run_worker)."""
    return ["--queues", queues, "--concurrency", "2", "--loglevel", "INFO", "--hostname", node]


def start_worker(stack: Stack) -> Proc:
    """``pantheon worker --concurrency 2``, exactly as deployed; waits until it is ready."""
    worker = stack.pantheon("pworker", "worker", "--concurrency", "2")
    wait_until(lambda: " ready." in worker.log_text(), 90, 0.2, what="worker ready")
    return worker


def start_noop_worker(stack: Stack, *, defaults: bool = False) -> Proc:
    """A worker of the benchmark-only app, with ``pantheon worker``'s Celery options; with
    ``defaults``, of the plain app, given nothing but its queue (Celery's defaults, so its
    pool is one process per CPU, as ``pantheon worker --concurrency 2`` on this machine)."""
    if defaults:
        argv = [str(VENV_BIN / "celery"), "-A", "benchmarks.pipeline_noop_celery:default_app",
                "worker", "--queues", DEFAULT_QUEUE, "--hostname", "bench-noop-default@%h",
                "--loglevel", "INFO"]  # fmt: skip
    else:
        argv = [str(VENV_BIN / "celery"), "-A", "benchmarks.pipeline_noop_celery", "worker",
                *worker_options(NOOP_QUEUE, "bench-noop@%h")]  # fmt: skip
    return stack.spawn("noop-default-worker" if defaults else "noop-worker", argv)


def consume(stack: Stack, queue: str, on: bool) -> None:
    """Stop or resume the workers' consumption of ``queue`` (Celery remote control), so one
    worker process builds a backlog, then drains it, without a restart."""
    app = stack.control_app()
    try:
        command = app.control.add_consumer if on else app.control.cancel_consumer
        # limit=1: one worker runs here; without it the call waits the whole timeout.
        replies = command(queue, reply=True, timeout=10.0, limit=1)
        if not replies:
            raise RuntimeError(f"no worker answered {'add' if on else 'cancel'}_consumer {queue}")
    finally:
        app.close()


def queue_depth(app: Any, queue: str) -> int:
    """Messages waiting in ``queue`` (0 when Redis has dropped the empty queue's key)."""
    with app.connection_for_read() as conn:
        try:
            _, messages, _ = conn.default_channel.queue_declare(queue=queue, passive=True)
        except ChannelError:
            return 0
        return int(messages)


def purge(stack: Stack, queue: str) -> int:
    """Drop every message waiting in ``queue`` of the stack's private broker; how many."""
    app = create_celery(stack.settings())
    try:
        with app.connection_for_write() as conn:
            return int(conn.default_channel.queue_purge(queue) or 0)
    finally:
        app.close()


def steady_rss_mb(pid: int, samples: int = 10, every: float = 0.2) -> tuple[float, float]:
    """Median RSS in MB over two seconds: (process and all its children, process alone).

    The median keeps a pool child caught mid-replacement from making the figure; the
    process alone is the long-lived part, where a leak would accumulate.
    """
    tree, alone = [], []
    for _ in range(samples):
        tree.append(process_rss(pid) / 2**20)
        alone.append(process_rss(pid, children=False) / 2**20)
        time.sleep(every)
    return statistics.median(tree), statistics.median(alone)


class Profiler:
    """``py-spy record`` of a process and its children until :meth:`stop` (SIGINT)."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        exe = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
        if not exe:
            log.warning("py-spy is not installed (pip install -e '.[dev]'); no profile")
            return
        argv = [exe, "record", "--pid", str(pid), "--subprocesses", "--rate", "200",
                "--format", "raw", "--output", str(out), "--nonblocking"]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)  # py-spy writes the profile on Ctrl-C
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        log.info("profile written to %s", self.out)


def maybe_profile(wanted: str, phase: str, pid: int, out_dir: Path) -> Any:
    """A :class:`Profiler` when ``--profile`` names this phase, else a stand-in."""
    if wanted != phase:
        return _NoProfile()
    return Profiler(pid, out_dir / f"profile-{phase}.txt")


class _NoProfile:
    def stop(self) -> None:
        return None


# --- CPU per process kind (the capacity model's per-core rates) ---------------------------


class CpuMeter:
    """CPU seconds (user + system) spent by the web (with children), the worker (with its
    pool), Redis and this run's PostgreSQL backends between :meth:`start` and :meth:`stop`.

    PostgreSQL's share is the backends connected to the run's database (found in
    ``pg_stat_activity``); the server's own background processes are shared with anything
    else on the machine and are left out.
    """

    def __init__(self, libpq: str, database: str, pids: dict[str, int]) -> None:
        self.libpq, self.database, self.pids = libpq, database, pids
        self.before: dict[str, dict[int, float]] = {}

    def _backends(self) -> list[int]:
        with psycopg.connect(self.libpq, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.database,),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def _sample(self) -> dict[str, dict[int, float]]:
        out = {kind: tree_cpu(pid) for kind, pid in self.pids.items()}
        out["postgres"] = _cpu_of([_process(p) for p in self._backends()])
        return out

    def start(self) -> CpuMeter:
        self.before = self._sample()
        return self

    def stop(self) -> dict[str, float]:
        """CPU seconds per kind since :meth:`start`. A PostgreSQL backend gone since counts 0
        after; a process tree's total counts its reaped children."""
        after = self._sample()
        spent: dict[str, float] = {}
        for kind, now in after.items():
            then = self.before.get(kind, {})
            if kind in self.pids:  # a tree whose root reaps its children: totals compare
                spent[kind] = max(0.0, sum(now.values()) - sum(then.values()))
            else:
                spent[kind] = sum(max(0.0, t - then.get(pid, 0.0)) for pid, t in now.items())
        return spent


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of a process and its live descendants; the root's figure includes the
    children it has reaped. A pool child that exits between two samples (a Celery worker
    replaces one every ``worker_max_tasks_per_child`` tasks) then still counts: its time
    moves from its own pid to the root's, and the tree's total only grows."""
    try:
        root = psutil.Process(pid)
        kids = root.children(recursive=True)
        times = root.cpu_times()
    except psutil.NoSuchProcess:
        return {}
    out = _cpu_of(kids)
    out[pid] = float(times.user + times.system + times.children_user + times.children_system)
    return out


def _process(pid: int) -> Any:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def _cpu_of(procs: list[Any]) -> dict[int, float]:
    out: dict[int, float] = {}
    for proc in procs:
        if proc is None:
            continue
        try:
            times = proc.cpu_times()
            out[proc.pid] = float(times.user + times.system)
        except psutil.NoSuchProcess:
            continue
    return out


def record_cpu(res: dict[str, Any], phase: str, spent: dict[str, float], count: float) -> None:
    """``<phase>_cpu_<kind>_s`` and ``<phase>_per_core_<kind>`` (events per CPU second)."""
    for kind, seconds in spent.items():
        res[f"{phase}_cpu_{kind}_s"] = seconds
        res[f"{phase}_per_core_{kind}"] = count / seconds if seconds > 0 else math.nan
