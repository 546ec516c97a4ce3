"""Celery process start-up, however started: the production check and the logging set-up.

``pantheon worker``/``beat`` check before building anything; ``celery -A ... worker|beat``
does not pass through the CLI, so the same check runs here: on ``celeryd_init`` (before
the worker connects or consumes anything) and when Beat builds its scheduler (before
redbeat writes to Redis). A refused start prints each problem and exits with status 1.

Celery configures logging itself unless a ``setup_logging`` receiver exists; this one
applies :func:`pantheon.logs.configure_logging` instead (Celery's documented way to keep
its hands off the root logger: "Celery won't configure the loggers if this signal is
connected", docs.celeryq.dev/en/stable/userguide/signals.html#setup-logging), in the
worker, its pool children and Beat.
"""

from __future__ import annotations

import sys
from typing import Any

from celery._state import get_current_task
from celery.signals import celeryd_init, setup_logging

from pantheon.config import Role, Settings
from pantheon.errors import ConfigurationError
from pantheon.logs import add_task_lookup, configure_logging, configured_settings

#: The exit status of a refused start (the CLI's for any PantheonError).
REFUSED = 1


def exit_if_unsafe(settings: Settings | None, role: Role) -> None:
    """Exit the process (``SystemExit``, which Celery's signal dispatch does not swallow)."""
    if settings is None:  # an app not built by create_celery: not ours to judge
        return
    try:
        settings.require_safe_for_production(role)
    except ConfigurationError as exc:
        print(f"pantheon: {exc.message}", file=sys.stderr, flush=True)
        raise SystemExit(REFUSED) from None


def _check_worker(sender: Any = None, instance: Any = None, **_: Any) -> None:
    app = getattr(instance, "app", None)
    exit_if_unsafe(getattr(app, "pantheon_settings", None), Role.WORKER)


celeryd_init.connect(_check_worker, weak=False)


def _setup_logging(loglevel: Any = None, **_: Any) -> None:
    """Same handler and format as the rest of Pantheon, at Celery's ``--loglevel``."""
    settings = configured_settings() or Settings()
    configure_logging(settings, loglevel)


setup_logging.connect(_setup_logging, weak=False)


def _current_task() -> tuple[str, str] | None:
    """The Celery task this thread runs, for every record logged meanwhile."""
    task = get_current_task()
    task_id = getattr(getattr(task, "request", None), "id", None)
    if task is None or not task_id:
        return None
    return str(task_id), str(task.name)


add_task_lookup(_current_task)
