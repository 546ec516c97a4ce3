"""A claim's rows as training arrays: the column-wise all-good check agrees with the
row-by-row path, and sends every doubtful row to it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pantheon.store import outcomes
from pantheon.store.types import encode_basins

pytestmark = pytest.mark.unit

BLOBS = encode_basins(np.random.default_rng(3).dirichlet(np.ones(64), size=8))


def _rows(n: int = 8) -> list[tuple[Any, ...]]:
    # Out of id order, as a claim may return them.
    return [(100 - i, BLOBS[i], (-1.0) ** i * 0.5, i % 2 == 0, "v1") for i in range(n)]


def test_the_column_check_gives_the_row_by_row_arrays_sorted_by_id() -> None:
    fast = outcomes._all_decodable(_rows())
    slow = outcomes.Claimed.from_rows(_rows())
    assert fast is not None
    assert list(fast.ids) == sorted(100 - i for i in range(8))
    for name in ("ids", "basins", "rewards", "successes"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    assert fast.successes.dtype == np.bool_


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (1, None),  # no basin
        (1, BLOBS[0][:-4]),  # short blob
        (1, b"\x00\x00\xc0\x7f" * 64),  # NaN basin
        (2, 1.5),  # reward out of range
        (2, float("nan")),
        (2, np.float64(0.5)),  # not a plain number: the row path decides
        (3, None),  # no success flag
    ],
)
def test_a_doubtful_row_takes_the_row_by_row_path(column: int, value: object) -> None:
    rows = _rows()
    bad = list(rows[3])
    bad[column] = value
    rows[3] = tuple(bad)
    assert outcomes._all_decodable(rows) is None


def test_no_rows_take_the_row_path() -> None:
    assert outcomes._all_decodable([]) is None
