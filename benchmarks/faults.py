"""The product's Celery app with fault hooks: ``celery -A benchmarks.faults worker``.

Nothing changes unless ``RELIABILITY_FAULT_DIR`` is set. Then, in every pool child:

* each task start/end is appended to ``<dir>/events.log`` as
  ``<unix time> <pid> <event> <task name> <task id>`` (event: start, success, failure,
  retry) — the driver reads redelivery times from it;
* a fault is *armed* by creating ``<dir>/arm.<point>.<task short name>`` holding
  ``<seconds> [<nth>]``. The first task of that name to reach ``point`` for the ``nth``
  time (default 1) within one execution claims the file (an atomic rename, so exactly one
  process wins), writes ``<dir>/hit.<point>.<pid>.<task id>`` and sleeps there. A file
  named ``always.<point>.<task short name>`` is never claimed: every execution sleeps.

Points: ``start`` (before the task body), ``before_commit`` (the transaction's writes are
done, COMMIT not yet sent: a kill here is a kill mid-transaction), ``after_commit``
(committed, message not yet acknowledged: a kill here makes the broker deliver the task
again). Both commit points count only transactions that wrote (INSERT/UPDATE/DELETE), so
read-only lookups before the training step are not where a fault lands.

The driver waits for the ``hit.*`` file, then kills that pid (see :mod:`pantheon.testing`).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from celery.signals import task_failure, task_postrun, task_prerun, task_retry
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from pantheon.worker.celery_app import app

__all__ = ["app", "arm", "read_events", "wait_hit"]

FAULT_DIR = os.environ.get("RELIABILITY_FAULT_DIR")
_current: dict[str, str] = {}
_counts: dict[str, int] = {}  # how often each point was reached in the current task


def _short(task_name: str) -> str:
    return task_name.rsplit(".", 1)[-1]


def _record(event_name: str, task_name: str, task_id: str) -> None:
    if FAULT_DIR is None:
        return
    line = f"{time.time():.6f} {os.getpid()} {event_name} {task_name} {task_id}\n"
    # O_APPEND writes of one short line do not interleave between processes.
    fd = os.open(Path(FAULT_DIR) / "events.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _read_arm(path: Path) -> tuple[float, int] | None:
    try:
        parts = path.read_text().split()
    except OSError:
        return None
    return float(parts[0]), int(parts[1]) if len(parts) > 1 else 1


def _maybe_fault(point: str) -> None:
    if FAULT_DIR is None or not _current:
        return
    reached = _counts[point] = _counts.get(point, 0) + 1
    short = _short(_current["name"])
    always = Path(FAULT_DIR) / f"always.{point}.{short}"
    armed = Path(FAULT_DIR) / f"arm.{point}.{short}"
    hit = Path(FAULT_DIR) / f"hit.{point}.{os.getpid()}.{_current['id']}"
    spec = _read_arm(always)
    if spec is not None:
        if spec[1] == reached:
            hit.write_text(f"{time.time():.6f}")
            time.sleep(spec[0])
        return
    spec = _read_arm(armed)
    if spec is None or spec[1] != reached:
        return
    claimed = Path(FAULT_DIR) / f"claimed.{point}.{os.getpid()}.{_current['id']}"
    try:
        os.rename(armed, claimed)
    except OSError:
        return  # another process claimed it first
    hit.write_text(f"{time.time():.6f}")
    time.sleep(spec[0])


@task_prerun.connect  # type: ignore[untyped-decorator]
def _on_prerun(task_id: str, task: Any, **_: Any) -> None:
    _current.update(name=task.name, id=task_id)
    _counts.clear()
    _record("start", task.name, task_id)
    _maybe_fault("start")


@task_postrun.connect  # type: ignore[untyped-decorator]
def _on_postrun(
    task_id: str, task: Any, state: str | None = None, retval: Any = None, **_: Any
) -> None:
    status = retval.get("status") if isinstance(retval, dict) else None
    _record(f"{(state or 'done').lower()}:{status or '-'}", task.name, task_id)
    _current.clear()
    _counts.clear()


@task_retry.connect  # type: ignore[untyped-decorator]
def _on_retry(request: Any = None, **_: Any) -> None:
    if request is not None:
        _record("retry", str(request.task), str(request.id))


@task_failure.connect  # type: ignore[untyped-decorator]
def _on_failure(task_id: str, sender: Any = None, **_: Any) -> None:
    _record("failure_signal", getattr(sender, "name", "?"), task_id)


_WRITES = ("INSERT", "UPDATE", "DELETE")
_last_commit = {"wrote": False}  # whether the transaction just committed wrote anything


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
    # Faults aim at transactions that write (a training step), not at read-only lookups.
    if statement.lstrip()[:6].upper() in _WRITES:
        conn.info["pantheon_faults_wrote"] = True


@event.listens_for(Engine, "rollback")
def _forget_writes(conn: Any) -> None:
    # An invalidated connection (the server dropped it) has no info left to clear, and
    # reading ``info`` would try to revalidate it inside the rollback.
    if not conn.invalidated:
        conn.info.pop("pantheon_faults_wrote", None)


@event.listens_for(Engine, "commit")
def _before_commit(conn: Any) -> None:
    _last_commit["wrote"] = bool(conn.info.pop("pantheon_faults_wrote", False))
    if _last_commit["wrote"]:
        _maybe_fault("before_commit")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Any) -> None:
    if _last_commit["wrote"]:
        _maybe_fault("after_commit")


# --- the driver's side --------------------------------------------------------------
def arm(
    fault_dir: Path, point: str, task: str, seconds: float, nth: int = 1, always: bool = False
) -> Path:
    """Arm one fault: the next ``task`` (short name) reaching ``point`` for the ``nth`` time
    in one execution sleeps ``seconds`` (every execution does, with ``always``)."""
    path = fault_dir / f"{'always' if always else 'arm'}.{point}.{task}"
    tmp = fault_dir / f"tmp.{point}.{task}"
    tmp.write_text(f"{seconds} {nth}")
    tmp.rename(path)
    return path


def disarm(fault_dir: Path) -> None:
    for path in [*fault_dir.glob("arm.*"), *fault_dir.glob("always.*")]:
        with contextlib.suppress(OSError):
            path.unlink()


def wait_hit(fault_dir: Path, point: str, timeout: float) -> tuple[int, str, float] | None:
    """Wait for an armed fault to be hit: ``(pid, task_id, time)`` or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in fault_dir.glob(f"hit.{point}.*"):
            _, _, pid, task_id = path.name.split(".", 3)
            stamp = float(path.read_text() or time.time())
            path.rename(path.with_name("seen." + path.name))
            return int(pid), task_id, stamp
        time.sleep(0.02)
    return None


def read_events(fault_dir: Path) -> list[tuple[float, int, str, str, str]]:
    """Every recorded event: ``(time, pid, event, task name, task id)``; event is ``start``,
    ``retry`` or ``<state>:<result status>`` (e.g. ``success:duplicate``)."""
    path = fault_dir / "events.log"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5:
            rows.append((float(parts[0]), int(parts[1]), parts[2], parts[3], parts[4]))
    return rows
