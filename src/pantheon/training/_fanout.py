"""Run one training operation for every active god, each isolated from the others."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pantheon.errors import DatabaseUnavailableError
from pantheon.logs import log_context
from pantheon.training.results import AllGodsResult, GodFailed, JsonResult

log = logging.getLogger(__name__)

#: Gods trained side by side on PostgreSQL: one god's SQL runs in the server while
#: another's arithmetic runs here. SQLite has one writer, so there it is always 1.
ALL_GODS_PARALLEL = 2

Op = Callable[[str], JsonResult]


def _isolated(op: Op, god: str) -> tuple[JsonResult, Exception | None]:
    try:
        with log_context(god=god):  # every record of this god's work names it
            return op(god), None
    except Exception as exc:  # isolate gods; logged and reported per god
        log.exception("%s failed for %s", getattr(op, "__name__", op), god)
        return GodFailed(god, str(exc)), exc


def for_each_god(gods: list[str], op: Op, *, parallel: bool) -> AllGodsResult:
    """Each god's result (``{status, kernels, failed, results}`` as JSON); one god's
    failure does not stop another.

    When every god failed and one failure was a database outage, that error is raised
    instead, so the task retries the whole job (safe: each god's work is exactly-once).
    """
    workers = ALL_GODS_PARALLEL if parallel else 1
    # Pool threads start with an empty context: each god's run gets a copy of the caller's
    # (its task id and name for the logs).
    caller = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pantheon-god") as pool:
        outcomes = list(pool.map(lambda god: caller.copy().run(_isolated, op, god), gods))
    results = dict(zip(gods, (r for r, _e in outcomes), strict=True))
    errors = [e for _r, e in outcomes if e is not None]
    if errors and len(errors) == len(gods):
        transient = next((e for e in errors if isinstance(e, DatabaseUnavailableError)), None)
        if transient is not None:
            raise transient
    return AllGodsResult(results)
