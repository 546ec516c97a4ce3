from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pantheon.store.basins import split_decodable
from pantheon.store.outcomes import Claimed, _all_decodable

pytestmark = pytest.mark.unit


def _rows(n: int = 50) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(0)
    basins = rng.dirichlet(np.ones(64), size=n).astype("<f4")
    return [
        (int(i), basins[k].tobytes(), float(rng.uniform(-1, 1)), bool(i % 3), "v")
        for k, i in enumerate(rng.permutation(np.arange(100, 100 + n)))
    ]


def test_column_checks_give_the_row_by_row_arrays() -> None:
    rows = _rows()
    fast = _all_decodable(rows)
    slow = Claimed.from_rows(rows)
    assert fast is not None
    for name in ("ids", "basins", "rewards", "successes"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    assert np.all(np.diff(fast.ids) > 0)


@pytest.mark.parametrize(
    ("bad", "refused_by_rows"),
    [
        (lambda r: (r[0], None, r[2], r[3], r[4]), True),  # no basin
        (lambda r: (r[0], r[1][:-4], r[2], r[3], r[4]), True),  # short basin
        (lambda r: (r[0], "x" * 256, r[2], r[3], r[4]), True),  # text, not bytes
        (lambda r: (r[0], r[1], None, r[3], r[4]), True),  # no reward
        (lambda r: (r[0], r[1], "0.5", r[3], r[4]), False),  # text the row path reads
        (lambda r: (r[0], r[1], 1.5, r[3], r[4]), True),  # reward out of range
        (lambda r: (r[0], r[1], float("nan"), r[3], r[4]), True),  # non-finite reward
        (lambda r: (r[0], r[1], r[2], None, r[4]), False),  # no success
        (lambda r: (r[0], np.full(64, -0.1, "<f4").tobytes(), r[2], r[3], r[4]), True),  # negative
        (lambda r: (r[0], np.full(64, np.nan, "<f4").tobytes(), r[2], r[3], r[4]), True),  # NaN
    ],
)
def test_a_doubtful_row_sends_the_claim_to_the_row_path(bad: Any, refused_by_rows: bool) -> None:
    rows = _rows()
    rows[17] = bad(rows[17])
    assert _all_decodable(rows) is None
    # The row path then names the bad row (text rewards and a missing success it reads
    # as numbers, as before).
    _good, refused = split_decodable(rows)
    assert [oid for oid, _ in refused] == ([rows[17][0]] if refused_by_rows else [])
