"""``pantheon demo``, ``replay``, ``import routellm`` and ``bench routing`` as real processes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pantheon.bench.routing import isolated_settings, paired_verdicts, route_score
from pantheon.config import Settings
from pantheon.datasets.jsonl import iter_lines
from pantheon.datasets.routellm import split_by_prompt
from pantheon.learning import evaluation
from pantheon.testing import clean_environ
from pantheon.training.service import TrainingService

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
PANTHEON = [sys.executable, "-m", "pantheon"]
SAMPLE_DIR = ROOT / "src" / "pantheon" / "data" / "sample"


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without Pantheon's variables, pointed at ``data_dir``."""
    values = {"PANTHEON_DATA_DIR": str(data_dir), "PANTHEON_LOG_LEVEL": "WARNING", "COLUMNS": "160"}
    return clean_environ(**{**values, **extra})


def run(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PANTHEON, *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_prints_computed_figures_and_writes_the_report(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    report = tmp_path / "out" / "demo.html"
    done = run(
        ["demo", "--data-dir", str(data_dir), "--report", str(report)],
        cwd=tmp_path,
        env=clean_env(tmp_path / "unused"),
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Gods after" in out
    assert "Routing" in out
    assert f"report: {report}" in out
    html = report.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 5  # four of the replay, one live
    printed = float(re.search(r"│ pantheon\s+│\s+([0-9.]+) │", out)[1])  # type: ignore[index]

    # Recompute the routing figure from the kernels the demo left in its database.
    records = [line.record for line in iter_lines(SAMPLE_DIR / "routellm_sample.jsonl.gz")]
    _, heldout = split_by_prompt([r for r in records if r], 0.8, seed=0)
    settings = isolated_settings(Settings(), data_dir, SAMPLE_DIR / "roster.json")
    service = TrainingService(settings)
    strong, weak = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
    prompts, perf_s, perf_w = paired_verdicts(heldout, strong, weak)
    score = route_score(service, prompts, strong, weak)
    assert evaluation.apgr(perf_s, perf_w, score) == pytest.approx(printed, abs=0.0006)
    assert f"<td>{printed:.3f}</td>" in html
    service.database.dispose()


def test_replay_reports_bad_lines_and_skips_them(tmp_path: Path) -> None:
    good = {
        "god_name": "hermes",
        "prompt": "Translate 'good morning' into French.",
        "response": "Bonjour.",
        "success": True,
        "outcome_key": "r1",
    }
    lines = [
        json.dumps(good),
        "not json",
        json.dumps({**good, "god_name": "loki", "outcome_key": "r3"}),
        "",
    ]
    lines.append(json.dumps({**good, "outcome_key": "r2", "prompt": "Translate 'night'."}))
    path = tmp_path / "outcomes.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = clean_env(tmp_path / "data", PANTHEON_TASK_MODE="sync")
    first = run(["replay", str(path), "--rate", "50"], cwd=tmp_path, env=env)
    assert first.returncode == 3, first.stderr
    assert "line 2: not valid JSON" in first.stderr
    assert "line 3: unknown god 'loki'" in first.stderr
    assert "accepted=2 duplicates=0 bad=2" in first.stdout
    second = run(["replay", str(path)], cwd=tmp_path, env=env)
    assert "accepted=0 duplicates=2 bad=2" in second.stdout
    registered = run(["replay", str(path), "--register-gods"], cwd=tmp_path, env=env)
    assert registered.returncode == 3, registered.stderr  # line 2 is still not JSON
    assert "registered 1 new god(s)" in registered.stderr
    assert "accepted=1 duplicates=2 bad=1" in registered.stdout
    assert (tmp_path / "data" / "roster.json").is_file()


def test_import_then_bench_routing_on_real_files(routellm_dir: Path, tmp_path: Path) -> None:
    subjects = sorted((routellm_dir / "mmlu").glob("mmlu_*.csv"))[:6]
    env = clean_env(tmp_path / "data")
    converted = run(
        [
            "import",
            "routellm",
            *map(str, subjects),
            "--split",
            "0.8",
            "--seed",
            "0",
            "--out",
            "train.jsonl",
            "--test-out",
            "test.jsonl.gz",
        ],
        cwd=tmp_path,
        env=clean_env(tmp_path / "data", PANTHEON_LOG_LEVEL="INFO"),
    )
    assert converted.returncode == 0, converted.stderr
    # at INFO, the operator sees no library chatter (alembic logs its plugins on import)
    assert "setup plugin" not in converted.stderr
    train = [line.record for line in iter_lines(tmp_path / "train.jsonl")]
    test = [line.record for line in iter_lines(tmp_path / "test.jsonl.gz")]
    assert {r["prompt"] for r in train if r}.isdisjoint({r["prompt"] for r in test if r})
    bench = run(
        [
            "bench",
            "routing",
            "--train",
            "train.jsonl",
            "--test",
            "test.jsonl.gz",
            "--strong",
            "gpt-4-1106-preview",
            "--weak",
            "mistralai/Mixtral-8x7B-Instruct-v0.1",
            "--json",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert bench.returncode == 0, bench.stderr
    figures = json.loads(bench.stdout)
    routers = {r["router"]: r for r in figures["routers"]}
    assert routers["random"]["apgr"] == pytest.approx(0.5)
    assert routers["oracle"]["apgr"] > routers["pantheon"]["apgr"]
    assert routers["oracle"]["apgr"] > routers["tfidf_lr"]["apgr"] > 0.5
    assert 0.0 < routers["pantheon"]["cpt50"] <= routers["pantheon"]["cpt80"] <= 1.0
    assert figures["train_outcomes"] == len(train)
    assert figures["prompts"] == len({r["prompt"] for r in test if r})
    assert not (tmp_path / "data").exists()  # the bench trains on a throwaway database
