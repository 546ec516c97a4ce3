"""Helpers for tests that start real processes (web servers, workers) in their own group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx


def wait_healthy(proc: subprocess.Popen[bytes], base: str, log: Path, timeout: float = 60) -> None:
    """Until ``GET {base}/api/health`` answers 200; fails with the log if the process dies."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, f"{base} did not come up: {log.read_text()[-2000:]}"
        time.sleep(0.3)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it after 20 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
