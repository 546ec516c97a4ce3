"""Hostile generators shared by the fuzz tests: the inputs an attacker would try first.

Strings mix ordinary text with lone surrogates, NUL, other control characters, bidi and
zero-width marks, very long runs; numbers include non-finite, huge, tiny and negative
values; JSON values nest deeply and come in the wrong types.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

NASTY_CHARS = [
    "\x00",
    "\ud800",
    "\udfff",
    "\x01",
    "\x1b",
    "\x7f",
    "\x85",
    "\u200b",
    "\u202e",
    "\ufeff",
    "\uffff",
    "\U0010ffff",
    "\t",
    "\r\n",
    "%00",
    "'; DROP TABLE outcomes; --",
    "../../etc/passwd",
]

nasty_text = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.one_of(st.sampled_from(NASTY_CHARS), st.text(max_size=5)), min_size=1, max_size=8
    ).map("".join),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["a", "\x00", "é", "\ud800"]), st.integers(0, 5000)
    ),
)

nasty_numbers = st.one_of(
    st.sampled_from(
        [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 0.0, -0.0, 1e10, 2**63, 2**64, -1]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
)


def _deep(depth: int) -> Any:
    value: Any = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


scalars = st.one_of(st.none(), st.booleans(), nasty_numbers, nasty_text)
json_values = st.one_of(
    st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)
        ),
        max_leaves=12,
    ),
    st.integers(50, 400).map(_deep),
)


#: Raw JSON bodies nested far deeper than any parser's recursion limit.
deep_raw = st.integers(500, 200_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)


def maybe(value: st.SearchStrategy[Any], other: st.SearchStrategy[Any] = json_values) -> Any:
    """Mostly ``value``, sometimes anything at all (a wrong type)."""
    return st.one_of(value, value, value, other)


@st.composite
def outcomes(draw: Any, gods: tuple[str, ...] = ("zeus", "athena", "Hermes")) -> dict[str, Any]:
    """An outcome body: plausible enough to reach the store, hostile where it can be."""
    body: dict[str, Any] = {
        "god_name": draw(maybe(st.sampled_from(gods), nasty_text)),
        "prompt": draw(maybe(st.text(min_size=1, max_size=30), nasty_text)),
        "response": draw(maybe(st.text(max_size=30), nasty_text)),
        "success": draw(maybe(st.booleans())),
    }
    for key in ("phi", "kappa", "coherence_score", "score"):
        if draw(st.booleans()):
            body[key] = draw(maybe(st.floats(0, 1), nasty_numbers))
    if draw(st.booleans()):
        body["outcome_key"] = draw(maybe(st.uuids().map(str), nasty_text))
    if draw(st.booleans()):
        body["source_id"] = draw(nasty_text)
    if draw(st.integers(0, 5)) == 0:
        body["basin_trajectory"] = draw(
            maybe(st.lists(st.lists(nasty_numbers, min_size=64, max_size=64), max_size=2))
        )
    if draw(st.integers(0, 5)) == 0:
        body[draw(nasty_text)] = draw(json_values)
    return body
