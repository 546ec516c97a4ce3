"""Routing figures: verdict pairing, reference routers, and a small end-to-end bench."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from pantheon.bench.routing import (
    TFIDF_LR,
    evaluate_routing,
    isolated_settings,
    paired_verdicts,
    run_routing_bench,
    verdict,
)
from pantheon.config import Settings
from pantheon.errors import ValidationError

pytestmark = pytest.mark.unit


def test_verdict_prefers_the_graded_score() -> None:
    assert verdict({"success": True, "score": 0.25}) == 0.25
    assert verdict({"success": True}) == 1.0
    assert verdict({"success": False, "score": None}) == 0.0


def test_pairs_need_both_gods_and_average_repeats() -> None:
    records = [
        {"god_name": "Strong", "prompt": "p1", "success": True},
        {"god_name": "weak", "prompt": "p1", "success": False},
        {"god_name": "weak", "prompt": "p1", "success": True},
        {"god_name": "strong", "prompt": "p2", "success": True},  # no weak verdict
        {"god_name": "other", "prompt": "p1", "success": False},
    ]
    prompts, s, w = paired_verdicts(records, "strong", "WEAK")
    assert prompts == ["p1"]
    assert s.tolist() == [1.0]
    assert w.tolist() == [0.5]
    with pytest.raises(ValidationError):
        paired_verdicts(records[3:], "strong", "weak")


def test_reference_routers() -> None:
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, 400).astype(float)
    w = (rng.random(400) < 0.4).astype(float)
    informative = (s - w) + rng.normal(0, 0.8, 400)
    result = evaluate_routing(s, w, informative, "strong", "weak")
    figures = {r.router: r for r in result.routers}
    assert figures["random"].apgr == pytest.approx(0.5)
    assert figures["oracle"].apgr > figures["pantheon"].apgr > figures["random"].apgr
    assert figures["oracle"].cpt50 < figures["pantheon"].cpt50 < figures["random"].cpt50
    assert figures["pantheon"].cpt50 <= figures["pantheon"].cpt80
    assert result.performance_at("random", 0.5) == pytest.approx(
        (result.strong_mean + result.weak_mean) / 2, abs=0.01
    )
    assert result.performance_at("oracle", 1.0) == pytest.approx(result.strong_mean)
    assert set(result.to_json()) >= {"prompts", "routers", "strong_mean", "weak_mean"}


def test_isolated_settings_ignore_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://prod.example/pantheon")
    monkeypatch.setenv("PANTHEON_TASK_MODE", "celery")
    monkeypatch.setenv("TRAINING_ENABLED", "false")
    settings = isolated_settings(Settings(), tmp_path, tmp_path / "roster.json")
    assert settings.is_sqlite
    assert str(tmp_path) in settings.database_url
    assert settings.task_mode == "sync"
    assert settings.training_enabled


def make_outcomes(path: Path, prompts: int, seed: int) -> Path:
    """The strong god fails on 'tides'; the weak one on 'tides' and on 'primes'."""
    rng = random.Random(seed)
    lines = []
    for i in range(prompts):
        topic = rng.choice(["tides of the ocean", "primes and divisors", "poems about rain"])
        prompt = f"Question {i} on {topic}: explain it simply."
        lines.append({"god_name": "strong", "prompt": prompt, "success": "tides" not in topic})
        weak_ok = "primes" not in topic and "tides" not in topic
        lines.append({"god_name": "weak", "prompt": prompt, "success": weak_ok})
    for n, line in enumerate(lines):
        line.update(response="", outcome_key=f"{seed}-{n}", source_type="replay")
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_bench_learns_who_answers_which_prompts(tmp_path: Path) -> None:
    train = make_outcomes(tmp_path / "train.jsonl", 600, seed=1)
    test = make_outcomes(tmp_path / "test.jsonl", 200, seed=2)
    steps: list[str] = []
    report = run_routing_bench(
        Settings(),
        train=train,
        test=test,
        strong="strong",
        weak="weak",
        progress=lambda step, done, total: steps.append(step),
    )
    assert report.train_outcomes == 1200
    assert report.training["hourly batch"] == "success"
    pantheon = report.result.figures("pantheon")
    assert pantheon.apgr > 0.7
    assert report.result.figures(TFIDF_LR).apgr > 0.7  # the topics' words decide the verdicts
    assert report.result.figures("random").apgr == pytest.approx(0.5)
    assert {"online training", "hourly batch", "nightly"} <= set(steps)
    assert json.loads(json.dumps(report.to_json()))["routellm_published"]["mmlu_apgr"] == 0.603
