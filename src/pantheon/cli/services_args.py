"""Arguments of ``pantheon worker | beat | serve | up``; they run in
:mod:`pantheon.cli.services`."""

from __future__ import annotations

import argparse

from pantheon.config import Role
from pantheon.worker import queues


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="run a Celery worker (all three queues by default)")
    worker.add_argument(
        "--queues",
        "-Q",
        default=None,
        help=f"comma-separated queues to consume (default: {','.join(queues.ALL_QUEUES)})",
    )
    worker.add_argument(
        "--concurrency", "-c", type=int, default=None, help="pool processes (default 2)"
    )
    worker.add_argument("--loglevel", "-l", default=None, help="Celery log level (default INFO)")
    worker.set_defaults(runner="pantheon.cli.services:run_worker", production_role=Role.WORKER)

    beat = sub.add_parser("beat", help="run Celery Beat (one leader; others wait as standby)")
    beat.add_argument("--loglevel", "-l", default=None, help="Celery log level (default INFO)")
    beat.set_defaults(runner="pantheon.cli.services:run_beat", production_role=Role.BEAT)

    serve = sub.add_parser("serve", help="run the web service (uvicorn)")
    serve.add_argument("--host", default=None, help="bind address (default PANTHEON_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (default $PORT, else 8000)")
    serve.set_defaults(runner="pantheon.cli.services:run_serve", production_role=Role.WEB)

    up = sub.add_parser(
        "up", help="embedded mode: web + in-process tasks + scheduler, SQLite by default"
    )
    up.add_argument("--host", default=None, help="bind address (default PANTHEON_HOST)")
    up.add_argument("--port", type=int, default=None, help="port (default $PORT, else 8000)")
    up.set_defaults(runner="pantheon.cli.services:run_up", production_role=Role.WEB)
