"""The harness's own pieces: bounded waits, free ports, a process and its group, a clean
environment."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from pantheon.testing import Proc, StackError, clean_environ, free_port, port_open, wait_until

pytestmark = pytest.mark.unit


def test_wait_until_returns_the_first_truthy_value_and_treats_errors_as_not_ready() -> None:
    calls = iter([ConnectionError("refused"), None, 0, "ready"])

    def probe() -> str | int | None:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value or None

    assert wait_until(probe, timeout=5, interval=0.01) == "ready"


def test_wait_until_names_what_it_waited_for_and_the_last_error() -> None:
    def refused() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(TimeoutError, match=r"the answer \(last error: ConnectionError"):
        wait_until(refused, timeout=0.2, interval=0.05, what="the answer")


@pytest.mark.parametrize("verdict", [StackError("died"), AssertionError("wrong")])
def test_a_dead_process_or_a_failed_assert_ends_the_wait_at_once(verdict: Exception) -> None:
    def probe() -> bool:
        raise verdict

    started = time.monotonic()
    with pytest.raises(type(verdict)):
        wait_until(probe, timeout=30)
    assert time.monotonic() - started < 5


def test_free_port_is_bindable_and_closed() -> None:
    port = free_port()
    assert not port_open(port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert port_open(port)


def test_a_proc_logs_waits_for_its_log_and_stops_its_group(tmp_path: Path) -> None:
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
    code += "'import time; time.sleep(60)']); print('up', flush=True); time.sleep(60)"
    proc = Proc("sleeper", [sys.executable, "-c", code], dict(os.environ), tmp_path / "s.log")
    proc.start()
    try:
        assert proc.wait_for_log("up", timeout=30) < 30
        child = wait_until(proc.children, timeout=10)[0]
        assert proc.alive()
    finally:
        proc.stop(timeout=5)
    assert not proc.alive()
    # The child was in the process's group: it went down with it (or is a reaped zombie).
    assert wait_until(lambda: not Path(f"/proc/{child}/status").exists() or _zombie(child), 10)
    assert "=== start" in proc.log_text()


def test_wait_for_log_fails_at_once_when_the_process_exits(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('bye')"]
    proc = Proc("quitter", argv, dict(os.environ), tmp_path / "q.log").start()
    with pytest.raises(StackError, match="exited early"):
        proc.wait_for_log("never printed", timeout=30)


def test_clean_environ_drops_the_variables_the_harness_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PANTHEON_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("PORT", "8080")
    env = clean_environ("PORT", PANTHEON_DATA_DIR="/tmp/x")
    assert "PANTHEON_ENV" not in env
    assert "DATABASE_URL" not in env
    assert "PORT" not in env
    assert env["PANTHEON_DATA_DIR"] == "/tmp/x"
    assert env["PATH"] == os.environ["PATH"]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
