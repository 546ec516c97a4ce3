"""``celery -A pantheon …``: the Celery app where Celery looks for it.

Given ``-A pantheon``, Celery tries ``pantheon.app``, ``pantheon.celery``, then the
submodule ``pantheon.celery`` and its ``app`` attribute
(https://docs.celeryq.dev/en/stable/getting-started/next-steps.html#about-the-app-argument).
This module is that submodule: ``app`` (also ``celery``) is built from the environment's
:class:`~pantheon.config.Settings` on first access, so importing it connects to nothing.
"""

from __future__ import annotations

from typing import Any

from pantheon.worker.celery_app import get_app

__all__ = ["get_app"]


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
