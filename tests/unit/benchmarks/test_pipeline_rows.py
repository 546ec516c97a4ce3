"""Expanding the real sample to benchmark counts."""

from __future__ import annotations

import json

import pytest
from benchmarks.pipeline_rows import batches, expand, load_sample, roster_gods

pytestmark = pytest.mark.unit

SOURCE = [
    {"god_name": "a", "prompt": "p0", "response": "r", "success": True},
    {"god_name": "b", "prompt": "p1", "response": "", "success": False},
]


def test_expand_repeats_with_variants_and_unique_keys() -> None:
    rows = expand(SOURCE, 5, "run", None)
    assert [r["prompt"] for r in rows] == ["p0", "p1", "p0 [variant 1]", "p1 [variant 1]",
                                           "p0 [variant 2]"]  # fmt: skip
    assert len({r["outcome_key"] for r in rows}) == 5
    assert [r["god_name"] for r in rows] == ["a", "b", "a", "b", "a"]
    assert SOURCE[0]["prompt"] == "p0"  # the source is not mutated


def test_expand_with_offset_continues_the_numbering() -> None:
    first = expand(SOURCE, 3, "run", None)
    rest = expand(SOURCE, 2, "run", None, offset=3)
    assert rest == expand(SOURCE, 5, "run", None)[3:]
    assert not {r["outcome_key"] for r in first} & {r["outcome_key"] for r in rest}


def test_expand_spreads_rows_over_the_gods() -> None:
    gods = roster_gods("default")
    assert gods is not None
    assert len(gods) == 13
    rows = expand(SOURCE, 26, "run", gods)
    assert {r["god_name"] for r in rows} == set(gods)
    assert roster_gods("sample") is None


def test_batches_are_request_bodies() -> None:
    rows = expand(SOURCE, 5, "run", None)
    bodies = batches(rows, 2)
    assert [len(json.loads(b)["outcomes"]) for b in bodies] == [2, 2, 1]


def test_bundled_sample_loads_as_outcome_bodies() -> None:
    rows = load_sample()
    assert len(rows) > 1000
    assert {"god_name", "prompt", "response", "success"} <= set(rows[0])
