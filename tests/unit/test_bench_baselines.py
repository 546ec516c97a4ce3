"""The same-run TF-IDF + LR baseline: fitted on training prompts only, any training shape."""

from __future__ import annotations

import numpy as np
import pytest

from pantheon.bench.baselines import success_probability, tfidf_lr_scores
from pantheon.bench.routing import TFIDF_LR, evaluate_routing, tfidf_lr_score

pytestmark = pytest.mark.unit

TOPICS = ("tides of the moon", "prime numbers", "roman history", "cell biology")


def prompts(n: int, offset: int = 0) -> list[str]:
    return [f"question {i + offset} about {TOPICS[i % len(TOPICS)]}" for i in range(n)]


def test_words_that_predict_failure_route_to_the_strong_model() -> None:
    train, test = prompts(80), prompts(40, offset=1000)
    strong_ok = np.array(["tides" not in p for p in train])
    weak_ok = np.array(["tides" not in p and "prime" not in p for p in train])
    score = tfidf_lr_scores(train, strong_ok, train, weak_ok, test)
    gap = np.array(["prime" in p for p in test])  # only there does the strong model help
    assert score[gap].min() > score[~gap].max()


def test_each_model_learns_from_its_own_prompts() -> None:
    """A router's own log: the two models answered different prompts."""
    train = prompts(120)
    strong, weak = train[::2], train[1::2]
    score = tfidf_lr_scores(
        strong,
        np.ones(len(strong), bool),
        weak,
        np.array(["prime" not in p for p in weak]),
        ["one more about prime numbers", "one more about cell biology"],
    )
    assert score[0] > score[1]


def test_one_class_of_verdicts_predicts_that_class() -> None:
    x = np.eye(3)
    assert success_probability(x, [True, True, True], x).tolist() == [1.0, 1.0, 1.0]
    assert success_probability(x, [False, False, False], x[:2]).tolist() == [0.0, 0.0]


def test_a_few_prompts_still_have_a_vocabulary() -> None:
    """``min_df`` 2 would keep no word of three distinct prompts."""
    train = ["alpha beta", "gamma delta", "epsilon zeta"]
    score = tfidf_lr_scores(train, [True, False, True], train, [True, True, True], ["alpha"])
    assert np.isfinite(score).all()


def test_the_bench_reports_the_baseline_from_the_training_file() -> None:
    train = prompts(80)
    records = [
        *({"god_name": "Strong", "prompt": p, "success": "tides" not in p} for p in train),
        *(
            {"god_name": "weak", "prompt": p, "success": "prime" not in p and "tides" not in p}
            for p in train
        ),
        {"god_name": "other", "prompt": "anything about prime numbers", "success": False},
    ]
    test = prompts(40, offset=1000)
    s = np.array([0.0 if "tides" in p else 1.0 for p in test])
    w = np.array([0.0 if "prime" in p or "tides" in p else 1.0 for p in test])
    score = tfidf_lr_score(records, test, "strong", "weak")
    result = evaluate_routing(
        s, w, np.zeros(len(test)), "strong", "weak", baseline_scores={TFIDF_LR: score}
    )
    assert [r.router for r in result.routers] == ["pantheon", TFIDF_LR, "random", "oracle"]
    assert result.figures(TFIDF_LR).apgr > result.figures("random").apgr
