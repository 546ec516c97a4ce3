from __future__ import annotations

import numpy as np
import pytest

from pantheon.learning.batch import Batch
from pantheon.learning.coordizer import coordize_many

MATHS = [f"solve the equation {i} x plus {i + 1} equals zero algebra" for i in range(40)]
POEMS = [f"write a tender love poem number {i} about the moon and roses" for i in range(40)]


@pytest.fixture(scope="session")
def two_kinds_batch() -> Batch:
    """A god that succeeds on maths prompts and fails on poems."""
    basins = coordize_many(MATHS + POEMS)
    successes = np.r_[np.ones(len(MATHS), bool), np.zeros(len(POEMS), bool)]
    rewards = np.where(successes, 0.8, -0.8)
    return Batch(basins, rewards, successes)


@pytest.fixture(scope="session")
def probe_maths() -> np.ndarray:
    probe: np.ndarray = coordize_many(["solve the equation 7 x plus 3 equals zero algebra"])[0]
    return probe


@pytest.fixture(scope="session")
def probe_poem() -> np.ndarray:
    probe: np.ndarray = coordize_many(["write a tender love poem about the moon and roses"])[0]
    return probe
