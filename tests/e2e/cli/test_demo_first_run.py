"""A new user's first run: ``pantheon demo`` piped to a file, then ``pantheon up`` on its data.

Before: ~25 INFO lines preceded the progress bars; the tables were cut at 80 columns off a
terminal; the demo's simulated night lay ahead of the real clock, so ``pantheon up`` on its
data skipped every scheduled slot for about a day ("last success: in 21.6 h").
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pantheon.bench.routing import isolated_settings
from pantheon.config import Settings
from pantheon.store.db import Database
from pantheon.store.schedule_runs import ScheduleRuns
from pantheon.worker.schedule import JOBS

pytestmark = pytest.mark.e2e

PANTHEON = [sys.executable, "-m", "pantheon"]
ROSTER = (
    Path(__file__).resolve().parents[3] / "src" / "pantheon" / "data" / "sample" / "roster.json"
)


def first_run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A shell as a new user has it: no Pantheon variables, no COLUMNS, default log level."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PANTHEON_", "CELERY_"))
        and k not in {"DATABASE_URL", "REDIS_URL", "COLUMNS", "LINES", "PORT"}
    }
    env["PANTHEON_DATA_DIR"] = str(tmp_path / "default-data")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    tmp = tmp_path_factory.mktemp("first-run")
    data_dir = tmp / "demo"
    done = subprocess.run(
        [*PANTHEON, "demo", "--data-dir", str(data_dir), "--report", str(tmp / "demo.html")],
        cwd=tmp,
        env=first_run_env(tmp),
        capture_output=True,  # not a terminal
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tmp, data_dir, done.stdout, done.stderr


def test_no_routine_log_lines_reach_the_demo_console(demo_run: tuple[Path, Path, str, str]) -> None:
    _, _, out, err = demo_run
    for line in (out + err).splitlines():
        assert " INFO " not in line, line
        assert " DEBUG " not in line, line


def test_tables_are_whole_when_not_a_terminal(demo_run: tuple[Path, Path, str, str]) -> None:
    _, _, out, _ = demo_run
    header = next(line for line in out.splitlines() if "majority baseline" in line)
    assert header.rstrip().endswith("┃"), header  # the last column is there, closed
    assert "…" not in out
    rows = [line for line in out.splitlines() if "Mixtral-8x7B-Instruct-v0.1" in line]
    assert rows, "the weak god's full name is cut"
    assert any(len(line) > 80 for line in out.splitlines())
    assert "performance at 50% strong" in out


def test_the_demo_leaves_no_schedule_record_in_the_future(
    demo_run: tuple[Path, Path, str, str],
) -> None:
    _, data_dir, _, _ = demo_run
    settings = isolated_settings(Settings(), data_dir, ROSTER)
    database = Database(settings)
    try:
        runs = ScheduleRuns(database)
        now = datetime.now(UTC)
        records = runs.recent(limit=500)
        assert records
        assert all(datetime.fromisoformat(str(r["slot"])) <= now for r in records), records[:3]
        for job in JOBS:
            last = runs.last_success(job.name)
            assert last is None or last <= now, (job.name, last)
    finally:
        database.dispose()


def test_pantheon_up_on_the_demos_data_runs_the_schedule_now(
    demo_run: tuple[Path, Path, str, str],
) -> None:
    tmp, data_dir, _, _ = demo_run
    port = free_port()
    log = (tmp / "up.log").open("wb")
    env = first_run_env(tmp, PANTHEON_DATA_DIR=str(data_dir), PANTHEON_ROSTER_FILE=str(ROSTER))
    up = subprocess.Popen(
        [*PANTHEON, "up", "--port", str(port)],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        hourly: dict[str, Any] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                jobs = httpx.get(f"http://127.0.0.1:{port}/api/schedule", timeout=5).json()
                hourly = next(j for j in jobs["jobs"] if j["job"] == "hourly_batch")
                if hourly["last_success"] == hourly["current_slot"]:
                    break
            except httpx.HTTPError:
                pass
            assert up.poll() is None, (tmp / "up.log").read_text()
            time.sleep(0.5)
        # The current hour's slot ran (after the demo's past night), not skipped as covered.
        assert hourly.get("last_success") == hourly.get("current_slot"), hourly
        assert datetime.fromisoformat(hourly["last_success"]) <= datetime.now(UTC)
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(10)
        log.close()
