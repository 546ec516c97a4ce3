"""The simple routers every routing figure is compared with, defined once.

``TF-IDF + LR``: scikit-learn's TF-IDF (word 1–2-grams, sublinear tf, ``min_df`` 2) fitted
on the training prompts only, one logistic regression (C = 1) per model on its verdicts;
a test prompt's score is p_strong − p_weak. ``pantheon bench routing`` prints it beside
Pantheon's kernels, and ``pantheon.bench.routing_engine`` and ``frontier`` use it on their
splits, so every report's baseline is computed in the same run on the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

Scores = NDArray[np.float64]

#: Below this many training prompts a word must appear once, not twice, to be kept:
#: ``min_df`` 2 on a handful of prompts can leave no vocabulary at all.
MIN_PROMPTS_FOR_MIN_DF = 50


def success_probability(x_train: ArrayLike, succeeded: ArrayLike, x_test: ArrayLike) -> Scores:
    """One logistic regression (C = 1): P(success) for every test row.

    Training verdicts of one class only leave nothing to learn: every test row gets that
    class's probability (0 or 1), as the majority verdict would.
    """
    y = np.asarray(succeeded, dtype=bool)
    n_test = np.shape(x_test)[0]
    if y.all() or not y.any():
        return np.full(n_test, float(y.all()), dtype=np.float64)
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(x_train, y)
    return np.asarray(model.predict_proba(x_test)[:, 1], dtype=np.float64)


def lr_scores(
    x_train: ArrayLike, strong_ok: ArrayLike, weak_ok: ArrayLike, x_test: ArrayLike
) -> Scores:
    """p_strong − p_weak on the test rows, one logistic regression per model."""
    return success_probability(x_train, strong_ok, x_test) - success_probability(
        x_train, weak_ok, x_test
    )


def tfidf_lr_scores(
    strong_prompts: Sequence[str],
    strong_ok: ArrayLike,
    weak_prompts: Sequence[str],
    weak_ok: ArrayLike,
    test_prompts: Sequence[str],
) -> Scores:
    """TF-IDF + LR: the vectoriser sees the training prompts only (both models' alike).

    Each model's regression learns from the prompts that model answered, so a training
    file where the two answered different prompts (a router's own log) works as well as
    one where both answered every prompt.
    """
    seen = list(dict.fromkeys([*strong_prompts, *weak_prompts]))
    min_df = 2 if len(seen) >= MIN_PROMPTS_FOR_MIN_DF else 1
    vectoriser = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df)
    vectoriser.fit(seen)
    x_test = vectoriser.transform(test_prompts)
    p_strong = success_probability(vectoriser.transform(strong_prompts), strong_ok, x_test)
    p_weak = success_probability(vectoriser.transform(weak_prompts), weak_ok, x_test)
    return p_strong - p_weak
