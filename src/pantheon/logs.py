"""One logging set-up for every process: web (uvicorn's loggers too), worker, Beat, CLI.

``PANTHEON_LOG_FORMAT`` picks the format: ``json`` writes one JSON object per line
(``level``, ``time``, ``logger``, ``message``, plus ``task_id``, ``task``, ``god``,
``outcome_id`` where known) for a platform's log search; ``text`` is a readable line for a
terminal; ``auto`` (the default) is ``json`` in production and ``text`` elsewhere.

Everything goes through the root logger to one handler on the process's real stderr, so
uvicorn and Celery records look like Pantheon's own: ``serve`` starts uvicorn with
``log_config=None`` and Celery's ``setup_logging`` signal (see
:mod:`pantheon.worker.startup`) keeps Celery from installing handlers of its own.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from pantheon.config import LogFormat, Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The context fields a record may carry, in the order JSON lines show them.
CONTEXT_FIELDS = ("task_id", "task", "god", "outcome_id")
#: Record attributes never written: uvicorn's ANSI-coloured copy of the message.
DROPPED_ATTRS = ("color_message",)
#: Loggers that install handlers of their own elsewhere; here they only propagate to root.
PROPAGATING_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "celery")
#: Loggers whose INFO records tell an operator nothing, shown only at DEBUG: alembic logs
#: "setup plugin …" once per built-in plugin whenever it is imported
#: (``alembic/runtime/plugins.py``), which is every command that opens the store.
CHATTY_LOGGERS = ("alembic.runtime.plugins",)

_context: ContextVar[dict[str, Any] | None] = ContextVar("pantheon_log_context", default=None)

#: ``() -> (task id, task name) | None``: what task the current thread runs. The worker
#: registers Celery's (:mod:`pantheon.worker.startup`), so this module needs no Celery and
#: Celery's own records about a task (received, succeeded) carry its id too.
TaskLookup = Callable[[], tuple[str, str] | None]
_task_lookups: list[TaskLookup] = []


def add_task_lookup(lookup: TaskLookup) -> None:
    if lookup not in _task_lookups:
        _task_lookups.append(lookup)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach ``fields`` (``god``, ``outcome_id``, ...; ``None`` values skipped) to every
    record logged inside the block, in this thread or task."""
    merged = dict(_context.get() or {})
    merged.update({k: v for k, v in fields.items() if v is not None})
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Adds the running task's id and name and the :func:`log_context` fields to a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for lookup in _task_lookups:
            found = lookup()
            if found is not None and not hasattr(record, "task_id"):
                record.task_id, record.task = found
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class PantheonJsonFormatter(JsonFormatter):
    """python-json-logger with ``level``/``time``/``logger``/``message`` first, UTC ISO time."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{asctime}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, *DROPPED_ATTRS],
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["level"] = record.levelname.lower()


def resolve_format(settings: Settings) -> LogFormat:
    if settings.log_format is LogFormat.AUTO:
        return LogFormat.JSON if settings.env == "production" else LogFormat.TEXT
    return settings.log_format


def make_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    # The real stderr by default: Celery later replaces sys.stderr with a proxy that logs
    # what is written to it, which would loop back into this handler.
    handler = logging.StreamHandler(stream or sys.__stderr__ or sys.stderr)
    if log_format is LogFormat.JSON:
        handler.setFormatter(PantheonJsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    handler.set_name("pantheon")
    return handler


def configure_logging(settings: Settings, level: str | int | None = None) -> LogFormat:
    """Route every logger to one ``pantheon`` handler on stderr; idempotent."""
    log_format = resolve_format(settings)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "pantheon"]:
        root.removeHandler(old)
    root.addHandler(make_handler(log_format))
    root_level = _level(level if level is not None else settings.log_level)
    root.setLevel(root_level)
    chatty_level = logging.WARNING if root_level > logging.DEBUG else logging.NOTSET
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty_level)
    logging.captureWarnings(True)  # warnings become records too: one format on stderr
    for name in PROPAGATING_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    _configured["settings"] = settings
    return log_format


def configured_settings() -> Settings | None:
    """The settings logging was last configured with (``None``: not yet in this process)."""
    return _configured.get("settings")


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    return logging.getLevelNamesMapping().get(level.upper(), logging.INFO)


_configured: dict[str, Settings] = {}
