"""The dashboard in headless Chromium after a replay of real outcomes through a real uvicorn.

Replays a few hundred rows of the bundled RouteLLM sample (real MMLU verdicts of two real
models) through ``POST /api/outcomes/batch``, runs an hourly batch, then loads ``/`` in
Debian's Chromium: once for the DOM (tables and plots must show the replayed values) and
once for a screenshot saved as ``test-output/dashboard.png``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pantheon.store.migrate import ensure_schema
from pantheon.testing import Stack

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "src" / "pantheon" / "data" / "sample"
REPLAYED = 400
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",
]


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "Debian chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI installs it in scripts/services")
    pytest.skip(f"!!! SKIPPED: {reason} !!!")


def sample_rows(n: int) -> list[dict[str, Any]]:
    with gzip.open(SAMPLE / "routellm_sample.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for _, line in zip(range(n), fh, strict=False)]
    assert len(rows) == n
    return rows


@pytest.fixture
def server(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """A real ``uvicorn --factory`` process on the test database (sync mode)."""
    env = {"PANTHEON_ROSTER_FILE": str(SAMPLE / "roster.json"), "PANTHEON_TASK_MODE": "sync"}
    with Stack(tmp_path, postgres=postgres_url, redis=None, env=env, cwd=REPO) as stack:
        ensure_schema(stack.settings())
        uvicorn = [sys.executable, "-m", "uvicorn", "pantheon.api.app:app_factory", "--factory"]
        yield stack.serve(argv=uvicorn).url


def replay(base: str) -> None:
    rows = sample_rows(REPLAYED)
    with httpx.Client(base_url=base, timeout=60) as client:
        for start in range(0, len(rows), 100):
            response = client.post(
                "/api/outcomes/batch", json={"outcomes": rows[start : start + 100]}
            )
            assert response.status_code == 202, response.text
        job = client.post("/api/training/hourly").json()
        deadline = time.monotonic() + 120
        while True:
            task = client.get(f"/api/tasks/{job['task_id']}").json()
            if task["ready"]:
                break
            assert time.monotonic() < deadline, task
            time.sleep(0.3)
        assert task["state"] == "SUCCESS", task
        assert (
            client.post("/api/checkpoints", json={"god_name": "gpt-4-1106-preview"}).status_code
            == 202
        )


def run_chromium(binary: str, tmp_path: Path, *args: str) -> str:
    profile = tmp_path / f"chromium-{len(list(tmp_path.glob('chromium-*')))}"
    result = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_dashboard_shows_the_replayed_outcomes(
    server: str, tmp_path: Path, output_dir: Path
) -> None:
    binary = chromium_binary()
    replay(server)

    dom = run_chromium(binary, tmp_path, "--dump-dom", f"{server}/")
    assert 'data-loaded="true"' in dom
    # Cards: the replayed count, and every outcome trained online.
    assert re.search(r'id="stat-outcomes">400<', dom), "outcome count not shown"
    assert re.search(r'id="stat-trained">400<', dom), "trained count not shown"
    # Kernels table: both real models with non-zero outcomes and a loss.
    kernels = dom.split('id="kernels"', 1)[1].split("</table>", 1)[0]
    assert "gpt-4-1106-preview" in kernels
    assert "Mixtral-8x7B-Instruct-v0.1".lower() in kernels.lower()
    losses = re.findall(r'<td class="num">(\d+\.\d{3})</td>', kernels)
    assert losses, "no loss values in the kernels table"
    # Plots: uPlot drew a canvas in each of the three charts.
    for plot in ("plot-loss", "plot-reward", "plot-spread"):
        section = dom.split(f'id="{plot}"', 1)[1].split("</figure>", 1)[0]
        assert "<canvas" in section, f"{plot} has no chart"
    # Routing: a heat cell per god per probe prompt, one winner per prompt.
    routing = dom.split('id="routing"', 1)[1].split("</table>", 1)[0]
    assert routing.count('class="heat') >= 16
    assert routing.count("heat win") >= 8
    # Schedule and recent tasks tables have rows; health shows the database answering.
    assert "hourly_batch" in dom
    assert "train_hourly_batch_all" in dom
    assert "db ok" in dom
    # In-process tasks by configuration (embedded mode): the badge says OK, not DEGRADED.
    assert 'data-status="ok"' in dom
    assert "DEGRADED" not in dom
    # Policy evaluation: replayed outcomes name no routing decision, and the panel says so.
    evaluation = dom.split('id="evaluation"', 1)[1].split("</table>", 1)[0]
    assert "no decision has an outcome yet" in evaluation

    screenshot = output_dir / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    run_chromium(
        binary, tmp_path, f"--screenshot={screenshot}", "--window-size=1400,1000", f"{server}/"
    )
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a blank page compresses to a few kB
