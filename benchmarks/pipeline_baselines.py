"""Same-run baselines of the pipeline benchmark, and process helpers they share.

- :func:`copy_baseline`: binary ``COPY`` of the very rows the intake got, into a scratch
  table, in one transaction (what PostgreSQL alone can take on this machine).
- :func:`noop_task_baseline`: a backlog of no-op tasks drained by one worker of the
  benchmark-only app (:mod:`benchmarks.pipeline_noop_celery`), same worker settings.
- :func:`process_rss`: resident memory of a process and all its children (psutil when
  installed, else ``/proc/<pid>/status``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from amqp.exceptions import ChannelError  # type: ignore[import-untyped]

from benchmarks.pipeline_noop_celery import (
    DEFAULT_QUEUE,
    NOOP_QUEUE,
    NOOP_TASK,
    create_default_app,
)
from benchmarks.pipeline_stats import drain_rate, rate
from pantheon.learning.reward import compute_reward
from pantheon.testing import descendants, rss_bytes
from pantheon.worker.celery_app import create_celery

# psutil is a development extra: without it, process_rss reads /proc instead.
try:
    import psutil  # type: ignore[import-untyped]
except ImportError:
    psutil = None

log = logging.getLogger(__name__)

COPY_TABLE = "bench_pipeline_copy_scratch"
#: The columns intake writes per outcome, with their binary COPY types.
COPY_COLUMNS = (
    ("outcome_key", "text"),
    ("god_name", "text"),
    ("prompt", "text"),
    ("response", "text"),
    ("success", "bool"),
    ("score", "float8"),
    ("basin", "bytea"),
    ("reward", "float8"),
    ("source_type", "text"),
    ("source_id", "text"),
    ("created_at", "timestamptz"),
)


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://…`` → ``postgresql://…`` (what psycopg itself reads)."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


def stored_rows(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows as intake stores them: client fields, reward and time, no basin (intake
    leaves it to the claim that trains the row, see ``pantheon.store.basins``)."""
    extra = {"created_at": datetime.now(UTC), "basin": None}
    return [
        tuple(
            compute_reward(bool(row["success"]), score=row.get("score"))
            if name == "reward"
            else extra[name]
            if name in extra
            else row.get(name)
            for name, _ in COPY_COLUMNS
        )
        for row in rows
    ]


def copy_baseline(database_url: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Rows/s of one binary COPY of ``rows`` (committed) into a fresh scratch table.

    The scratch table is ``LIKE outcomes`` with its indexes and constraints (unique
    ``outcome_key``, the pending-row partial indexes), and each row carries what intake
    stores (reward computed beforehand, untimed; no basin): PostgreSQL's own ceiling for
    writing exactly these outcomes, one COPY stream, one commit.
    """
    prepared = stored_rows(rows)
    columns = ", ".join(name for name, _ in COPY_COLUMNS)
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        conn.execute(
            f"CREATE TABLE {COPY_TABLE} (LIKE outcomes INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS INCLUDING INDEXES)"
        )
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {COPY_TABLE} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([kind for _, kind in COPY_COLUMNS])
            for row in prepared:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        (count,) = conn.execute(f"SELECT count(*) FROM {COPY_TABLE}").fetchone() or (0,)
        conn.execute(f"DROP TABLE {COPY_TABLE}")
        conn.commit()
    return {"copy_rows": float(count), "copy_seconds": elapsed, "copy_per_s": rate(count, elapsed)}


# --- memory ------------------------------------------------------------------------------


def process_rss(pid: int, children: bool = True) -> int:
    """Resident bytes of ``pid`` plus (by default) all its descendants (pool children)."""
    if psutil is None:
        kids = descendants(pid) if children else []
        return sum(rss_bytes(p) for p in [pid, *kids])
    try:
        root = psutil.Process(pid)
        procs = [root, *(root.children(recursive=True) if children else [])]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


# --- no-op Celery task ---------------------------------------------------------------------


def noop_task_baseline(
    settings: Any,
    start_worker: Callable[[], Any],
    count: int,
    timeout: float = 120.0,
    *,
    defaults: bool = False,
) -> dict[str, float]:
    """Tasks/s of one worker of a benchmark-only app draining ``count`` queued no-ops.

    The backlog is published before the worker starts; the rate comes from polling the
    queue depth while it drains (so worker start-up is not counted). ``start_worker``
    starts the worker (``celery -A benchmarks.pipeline_noop_celery worker -Q bench_noop``
    with the product worker's options, or, with ``defaults``, the ``default_app`` with
    Celery's defaults) and returns something with ``stop()``. Keys: ``noop_task_*``, or
    ``noop_task_default_*`` with ``defaults``.
    """
    app = create_default_app(settings.celery_broker_url) if defaults else create_celery(settings)
    queue_name = DEFAULT_QUEUE if defaults else NOOP_QUEUE
    # Celery's own declaration of a queue outside task_queues (exchange = routing key =
    # name), made up front: on Redis a queue's binding exists only once it is declared.
    queue = app.amqp.queues.select_add(queue_name) or app.amqp.queues[queue_name]
    with app.connection_for_write() as conn:
        queue(conn.default_channel).declare()
    published = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for n in range(count):
            app.send_task(NOOP_TASK, kwargs={"outcome_id": n}, queue=queue_name, producer=producer)
    publish_s = time.perf_counter() - published

    def depth() -> int:
        with app.connection_for_read() as conn:
            try:
                _, messages, _ = conn.default_channel.queue_declare(queue=queue_name, passive=True)
            except ChannelError:  # Redis forgets a queue left empty: nothing is left
                return 0
            return int(messages)

    samples: list[tuple[float, int]] = [(time.monotonic(), depth())]
    worker = start_worker()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            samples.append((time.monotonic(), depth()))
            if samples[-1][1] == 0:
                break
            time.sleep(0.02)
    finally:
        worker.stop()
        if samples[-1][1]:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_purge(queue_name)
        app.close()
    prefix = "noop_task_default" if defaults else "noop"
    return {
        f"{prefix}_tasks": float(count),
        f"{prefix}_publish_per_s": rate(count, publish_s),
        "noop_task_default_per_s" if defaults else "noop_task_per_s": drain_rate(samples),
        f"{prefix}_left": float(samples[-1][1]),
    }
