"""Processes the harness starts: a handle per process, /proc helpers, bounded waits.

Part of :mod:`pantheon.testing` (import the names from there).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

LOOPBACK = "127.0.0.1"

T = TypeVar("T")


class StackError(RuntimeError):
    """A process of the harness died or a service would not start: stop waiting at once."""


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns a truthy value and return that value.

    An exception from ``predicate`` means "not ready yet" (connection refused, a table not
    created yet), except :class:`StackError` and a failed ``assert`` (a test's verdict),
    which end the wait at once; after ``timeout`` seconds a :class:`TimeoutError` names
    ``what`` and the last exception.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = predicate()
        except (StackError, AssertionError):
            raise
        except Exception as exc:  # not ready yet
            value, last = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last!r})" if last is not None else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def _ppid(pid: int) -> int | None:
    """Parent pid from /proc, None when gone or a zombie (dead, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces or parentheses: parse after the last ')'.
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else int(ppid)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (read from /proc), parents before children."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ppid = _ppid(int(entry.name))
            if ppid is not None:
                parent_of[int(entry.name)] = ppid
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop(0)
        kids = sorted(p for p, pp in parent_of.items() if pp == current)
        found.extend(kids)
        frontier.extend(kids)
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --- a managed process --------------------------------------------------------------
@dataclass
class Proc:
    """One started process, in a session (process group) of its own, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    url: str = ""
    port: int = 0
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """Exit code, or None if still running after ``timeout`` seconds."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL the whole process group (the process and its pool children)."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM the main process (a warm shutdown, as a platform does), then SIGKILL the
        group after ``timeout``; pool children left behind get the group's SIGKILL."""
        if self.popen is None:
            return None
        if self.alive():
            self.send(signal.SIGTERM)
            code = self.wait(timeout)
            if code is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
                return code
        self.kill()
        return self.popen.returncode

    def children(self) -> list[int]:
        return descendants(self.pid) if self.alive() else []

    def pool_children(self) -> list[int]:
        """Leaf descendants: a prefork worker's pool processes."""
        kids = self.children()
        return [p for p in kids if not any(_ppid(q) == p for q in kids)]

    def kill_pool_child(self, pid: int | None = None, sig: int = signal.SIGKILL) -> int:
        """Signal one pool child (``pid`` or the first one); return its pid."""
        target = pid if pid is not None else wait_until(self.pool_children, 30, what="pool")[0]
        os.kill(target, sig)
        return int(target)

    def rss(self) -> int:
        """RSS of the process and all its descendants, in bytes."""
        if not self.alive():
            return 0
        return rss_bytes(self.pid) + sum(rss_bytes(p) for p in self.children())

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_log(self, needle: str, timeout: float = 30.0) -> float:
        """Seconds until ``needle`` shows in the log; fails at once if the process exits."""
        started = time.monotonic()

        def seen() -> bool:
            if needle in self.log_text():
                return True
            if not self.alive():
                raise StackError(f"{self.name} exited early:\n{self.log_text()[-3000:]}")
            return False

        try:
            wait_until(seen, timeout, what=f"{needle!r} in {self.name}'s log")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}:\n{self.log_text()[-3000:]}") from None
        return time.monotonic() - started

    def wait_healthy(self, timeout: float = 60, statuses: Iterable[int] = (200,)) -> None:
        """Until ``GET {url}/api/health`` answers one of ``statuses``; fails with the log
        if the process dies or the time runs out."""
        wanted = set(statuses)

        def ready() -> bool:
            if not self.alive():
                raise StackError(f"{self.name} exited:\n{self.log_text()[-3000:]}")
            return httpx.get(self.url + "/api/health", timeout=2).status_code in wanted

        try:
            wait_until(ready, timeout, 0.2, what=f"{self.name} health")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_text()[-3000:]}") from None
