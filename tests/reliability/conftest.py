"""A private stack (its own redis-server and PostgreSQL cluster) shared by the scenarios.

The scenarios stop and restart these services, so they never touch the machine's shared
ones. Missing binaries skip the tests locally and fail them under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.scenarios import RunResult

from pantheon.testing import Stack

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "reliability"


def _missing() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        return "PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser (initdb refuses root)"
    return None


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: services are required)")
        pytest.skip(f"!!! SKIPPED: {reason} !!!")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    run_dir = OUTPUT / f"run-{os.getpid()}"
    with Stack(run_dir) as private:
        yield private


def assert_clean(results: list[RunResult]) -> None:
    """Every run: nothing lost, nothing doubled, no failed check (logs are in run_dir)."""
    assert results, "the scenario returned no run"
    for result in results:
        detail = f"{result.scenario} {result.title}: {result.failures} extra={result.extra}"
        assert result.lost == 0, detail
        assert result.duplicated == 0, detail
        assert result.failures == [], detail
        assert result.accepted > 0, detail
