"""``pantheon bench online`` as a real process on a slice of the bundled sample."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pantheon.datasets.jsonl import iter_lines
from pantheon.datasets.routellm import split_by_prompt
from tests.e2e.cli.test_data_commands import PANTHEON, SAMPLE_DIR, clean_env

pytestmark = pytest.mark.e2e

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
KEYS = {
    "apgr_bandit",
    "apgr_full_information",
    "apgr_greedy",
    "apgr_random",
    "ope_abs_error",
    "strong_share",
    "prompts",
    "learning_curve",
}


def test_bench_online_prints_the_figures(tmp_path: Path) -> None:
    records = [
        line.record
        for line in iter_lines(SAMPLE_DIR / "routellm_sample.jsonl.gz")
        if line.record is not None
    ]
    train, test = split_by_prompt(records, 0.8, seed=0)
    for name, rows in (("train", train), ("test", test)):
        with (tmp_path / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in rows)
    done = subprocess.run(
        [
            *PANTHEON,
            "bench",
            "online",
            "--train",
            str(tmp_path / "train.jsonl"),
            "--test",
            str(tmp_path / "test.jsonl"),
            "--strong",
            STRONG,
            "--weak",
            WEAK,
            "--limit",
            "240",
            "--every",
            "120",
            "--hours",
            "4",
            "--json",
        ],
        env=clean_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    body = json.loads(done.stdout)
    assert set(body) >= KEYS
    assert body["prompts"] == 240
    for key in ("apgr_bandit", "apgr_full_information", "apgr_greedy", "apgr_random"):
        assert 0.0 <= body[key] <= 1.0
    assert [p["prompts"] for p in body["learning_curve"]] == [128, 240]
    assert 0.0 < body["strong_share"] < 1.0  # the exploring policy tried both gods
    assert body["strong_share_greedy"] >= body["strong_share"] - 0.2
    assert 0.0 <= body["ope_abs_error"] < 0.2
    assert body["ope_dr_ci95"][0] <= body["ope_dr"] <= body["ope_dr_ci95"][1]
