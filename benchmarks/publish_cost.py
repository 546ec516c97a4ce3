"""What sending one task costs the process that sends it: the product's Celery app against
the same app with Celery's own Redis result backend (the same-run baseline).

    python -m benchmarks.publish_cost [--sends 20000] [--redis redis://127.0.0.1:6379/13]

Each variant runs in a fresh process, one after the other, and sends ``--sends`` tasks to
a scratch queue of the given Redis database (deleted afterwards; no worker consumes it),
as the web does for an outcome: ``send_task`` with a task id, ``retry=True``. Printed per
variant: process CPU per send (ms), the process's peak RSS (MB), the result channels that
redis-py still tracks on the sender's pub/sub connection, and the bytes waiting unread in
that connection's socket. Celery's ``RedisBackend`` subscribes the sender to each task's
result channel (``on_task_call``) and nothing in a sender that never waits reads them back
(celery/celery#6963); the product's backend (``worker.broker.RedisResults``) does not.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import resource
import struct
import subprocess
import sys
import termios
import time
import uuid

import redis
from celery.backends.redis import RedisBackend

from pantheon.config import Settings
from pantheon.worker.celery_app import create_celery

SCRATCH_QUEUE = "bench_publish_cost"
VARIANTS = ("product", "celery-redis-backend")
WARM_SENDS = 200


def _unread_bytes(sock: object) -> int:
    fileno = sock.fileno()  # type: ignore[attr-defined]
    return int(struct.unpack("i", fcntl.ioctl(fileno, termios.FIONREAD, b"\0\0\0\0"))[0])


def measure(variant: str, sends: int, url: str) -> dict[str, object]:
    """Send ``sends`` tasks with ``variant``'s app, in this process."""
    settings = Settings(REDIS_URL=url, CELERY_RESULT_BACKEND=url)
    app = create_celery(settings)
    if variant == "celery-redis-backend":
        app.loader.override_backends = {}  # Celery's own alias: RedisBackend
    backend = app.backend
    assert (type(backend) is RedisBackend) == (variant != "product"), type(backend)

    def send() -> None:
        app.send_task(
            "training.tasks.bench_publish_cost",
            kwargs={"outcome_id": 1, "god_name": "zeus"},
            queue=SCRATCH_QUEUE,
            task_id=str(uuid.uuid4()),
            retry=True,
        )

    for _ in range(WARM_SENDS):
        send()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(sends):
        send()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    pubsub = getattr(backend.result_consumer, "_pubsub", None)
    tracked = len(pubsub.channels) if pubsub is not None else 0
    unread = _unread_bytes(pubsub.connection._sock) if pubsub and pubsub.connection else 0
    return {
        "variant": variant,
        "sends": sends,
        "cpu_ms_per_send": round(1000 * cpu / sends, 4),
        "wall_ms_per_send": round(1000 * wall / sends, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "tracked_result_channels": tracked,
        "unread_socket_bytes": unread,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=20_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--variant", choices=VARIANTS, help="measure one, in this process")
    opts = parser.parse_args(argv)
    if opts.variant:
        print(json.dumps(measure(opts.variant, opts.sends, opts.redis)))
        return 0
    rows = []
    try:
        for variant in VARIANTS:
            argv_one = ["--variant", variant, "--sends", str(opts.sends), "--redis", opts.redis]
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.publish_cost", *argv_one],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        redis.Redis.from_url(opts.redis).delete(SCRATCH_QUEUE)
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row[k]) for k in keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
