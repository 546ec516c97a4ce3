from __future__ import annotations

import numpy as np
import pytest

from pantheon.learning.batch import Batch
from pantheon.learning.coordizer import coordize
from pantheon.learning.curriculum import NEGATIVE_WEIGHT, bundled_prompts, curriculum_batch
from pantheon.learning.kernel import Kernel
from pantheon.learning.timescales import consolidate
from pantheon.roster import Roster

pytestmark = pytest.mark.unit

DOMAINS = {g.name: g.domain for g in Roster.default()}


def test_every_default_god_has_a_curriculum() -> None:
    prompts = bundled_prompts()
    assert set(prompts) == set(DOMAINS)
    assert all(len(p) >= 25 for p in prompts.values())


def test_batch_has_positives_and_weak_negatives() -> None:
    batch = curriculum_batch("Athena", DOMAINS)
    pos = batch.successes
    assert pos.sum() == len(bundled_prompts()["athena"]) + 1
    assert np.all(batch.weights[pos] == 1.0)
    assert np.all(batch.weights[~pos] == NEGATIVE_WEIGHT)
    assert np.all(batch.rewards[pos] > 0)
    assert np.all(batch.rewards[~pos] < 0)
    again = curriculum_batch("athena", DOMAINS)
    np.testing.assert_array_equal(batch.basins, again.basins)


def test_unknown_god_gets_an_empty_batch() -> None:
    assert len(curriculum_batch("gpt-4-1106-preview", {"gpt-4-1106-preview": "strong"})) == 0


def test_curriculum_gives_a_sensible_prior() -> None:
    scores = {}
    for god in ("athena", "dionysus"):
        result = consolidate(Kernel(god), curriculum_batch(god, DOMAINS), Batch.empty())
        k = result.kernel
        scores[god] = (
            k.predict_one(coordize("Prove that the sum of two even numbers is even.")).p_success,
            k.predict_one(coordize("Write a song about dancing under the stars.")).p_success,
        )
    assert scores["athena"][0] > scores["dionysus"][0]
    assert scores["dionysus"][1] > scores["athena"][1]
