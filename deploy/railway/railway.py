"""Pantheon on Railway as infrastructure as code: the documented ALTERNATIVE deploy path.

The default path is config as code: ``deploy/railway/web.json``, ``worker.json`` and
``beat.json``, each selected by one service's config file path. This file describes the
same project (PostgreSQL, Redis, web, worker, beat, their variables) for the Railway CLI,
which evaluates it and calls :func:`main`:

    railway config plan --file deploy/railway/railway.py
    railway config apply --file deploy/railway/railway.py

It lives outside ``.railway/`` on purpose: the CLI discovers ``.railway/railway.py`` by
itself (docs.railway.com/cli/config), and a service must not be managed by config as code
and infrastructure as code at once (docs.railway.com/infrastructure-as-code). Use one
path per service: a service deployed with a ``deploy/railway/*.json`` config file path is
not planned from here. Python IaC is in beta (docs.railway.com/cli/config).
Every service runs from this repository; they share no volume, so checkpoints live in
PostgreSQL (``PANTHEON_CHECKPOINT_STORE=database``). See ``RAILWAY_DEPLOYMENT.md``.
"""

from __future__ import annotations

from typing import Any

from railway_sdk import define_railway, github, postgres, preserve, project, redis, service

PROJECT_NAME = "pantheon"
#: ``owner/name`` of the GitHub repository to build from. ``None``: the services have no
#: source and ``railway up --service <name>`` uploads this directory instead.
GITHUB_REPO: str | None = None
GITHUB_BRANCH = "main"

#: The routed queues ``pantheon worker`` consumes by default (pantheon.worker.queues).
WORKER_QUEUES = ("training_fast", "training_batch", "training_slow")
WORKER_CONCURRENCY = 2
#: Warm shutdown window: SIGTERM lets running tasks finish, SIGKILL follows after this.
#: 300 s is the default soft time limit of the fast and batch queues, so any such task
#: honouring its limit ends inside the window; a longer (slow-queue) task is acked late,
#: its transaction rolls back, and the broker redelivers it.
WORKER_DRAINING_SECONDS = 300
WEB_DRAINING_SECONDS = 30
BEAT_DRAINING_SECONDS = 10
#: A cold start runs migrations first (pre-deploy), then must answer /api/health.
HEALTHCHECK_TIMEOUT_SECONDS = 120

#: The same build as the config-as-code files: Railpack installs Python (``.python-version``),
#: then this installs exactly the locked, hash-checked dependencies and the package.
BUILD = (
    "python -m pip install --require-hashes --no-deps -r requirements.lock"
    " && python -m pip install --no-deps --no-build-isolation ."
)

START_WEB = "pantheon serve"
START_WORKER = f"pantheon worker --concurrency {WORKER_CONCURRENCY}"
START_BEAT = "pantheon beat"
MIGRATE = "pantheon db upgrade"


def _source() -> dict[str, Any] | None:
    return github(GITHUB_REPO, branch=GITHUB_BRANCH) if GITHUB_REPO else None


@define_railway
def main(ctx: Any = None) -> Any:
    db = postgres("Postgres")
    broker = redis("Redis")
    shared: dict[str, Any] = {
        "DATABASE_URL": db.env.DATABASE_URL,
        "REDIS_URL": broker.env.REDIS_URL,
        "PANTHEON_ENV": "production",
        "PANTHEON_CHECKPOINT_STORE": "database",
        "TRAINING_ENABLED": "true",
        "PANTHEON_LOG_LEVEL": "INFO",
    }
    web = service(
        "web",
        source=_source(),
        build={"builder": "RAILPACK", "buildCommand": BUILD},
        start=START_WEB,
        preDeploy=MIGRATE,
        healthcheck="/api/health",
        healthcheckTimeout=HEALTHCHECK_TIMEOUT_SECONDS,
        replicas=1,
        deploy={
            "restartPolicyType": "ON_FAILURE",
            "restartPolicyMaxRetries": 10,
            "drainingSeconds": WEB_DRAINING_SECONDS,
        },
        env={
            **shared,
            # Beat schedules in production; the web service must not run a second scheduler.
            "PANTHEON_EMBEDDED_SCHEDULER": "false",
            # Secrets are set in the dashboard and kept as they are on every apply; the
            # worker and Beat reference this one (production mode checks it everywhere).
            "PANTHEON_API_TOKEN": preserve(),
        },
    )
    worker = service(
        "worker",
        source=_source(),
        build={"builder": "RAILPACK", "buildCommand": BUILD},
        start=START_WORKER,
        replicas=1,
        deploy={"restartPolicyType": "ALWAYS", "drainingSeconds": WORKER_DRAINING_SECONDS},
        env={
            **shared,
            "PANTHEON_WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            "PANTHEON_API_TOKEN": web.env.PANTHEON_API_TOKEN,
        },
    )
    beat = service(
        "beat",
        source=_source(),
        build={"builder": "RAILPACK", "buildCommand": BUILD},
        start=START_BEAT,
        # One Beat: a redeploy briefly overlaps two, and the Redis lock keeps one active.
        replicas=1,
        deploy={"restartPolicyType": "ALWAYS", "drainingSeconds": BEAT_DRAINING_SECONDS},
        env={**shared, "PANTHEON_API_TOKEN": web.env.PANTHEON_API_TOKEN},
    )
    return project(PROJECT_NAME, resources=[db, broker, web, worker, beat])
