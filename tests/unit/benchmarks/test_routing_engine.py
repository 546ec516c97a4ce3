from __future__ import annotations

import numpy as np
import pytest

from pantheon.bench.routing_engine import SPLITS, Pool, make_split

pytestmark = pytest.mark.unit


def _pool() -> Pool:
    subjects = np.array([f"s{i % 14}" for i in range(280)] + ["gsm8k"] * 60)
    source = np.where(subjects == "gsm8k", "gsm8k", "mmlu")
    n = subjects.size
    rng = np.random.default_rng(0)
    return Pool(
        prompts=[f"prompt {i}" for i in range(n)],
        strong=rng.random(n) < 0.8,
        weak=rng.random(n) < 0.6,
        source=source,
        subjects=subjects,
    )


@pytest.mark.parametrize("name", SPLITS)
def test_splits_never_share_a_prompt(name: str) -> None:
    data = _pool()
    for seed in range(3):
        split = make_split(data, name, seed)
        assert split.train.any()
        assert split.test.any()
        assert not (split.train & split.test).any()


def test_left_out_subjects_are_whole() -> None:
    data = _pool()
    split = make_split(data, SPLITS[1], 0)
    test_subjects = set(data.subjects[split.test].tolist())
    assert not test_subjects & set(data.subjects[split.train].tolist())
    assert "gsm8k" not in test_subjects


def test_cross_set_splits_train_on_one_set_and_test_on_the_other() -> None:
    data = _pool()
    to_gsm = make_split(data, SPLITS[2], 0)
    assert set(data.source[to_gsm.train].tolist()) == {"mmlu"}
    assert set(data.source[to_gsm.test].tolist()) == {"gsm8k"}
    to_mmlu = make_split(data, SPLITS[3], 1)
    assert set(data.source[to_mmlu.train].tolist()) == {"gsm8k"}
    assert to_mmlu.test.sum() == (data.source == "mmlu").sum()
