"""The coordizer under hostile text, for both kinds (encoder and static table).

Properties: every basin is finite, has shape (64,), is non-negative and sums to 1; the same
text gives the identical basin twice; ``coordize_many`` on a list gives, row for row, the
basins ``coordize`` gives each item alone. Text with a lone surrogate (not encodable as
UTF-8) is refused with :class:`ValidationError` by every entry point, never a
``UnicodeEncodeError`` or a tokenizer's ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantheon.errors import ValidationError
from pantheon.learning import coordizer
from pantheon.learning.coordizer import BASIN_DIM
from pantheon.learning.coordizer_kind import CoordizerKind
from tests.fuzz.strategies import NASTY_CHARS
from tests.fuzz_profiles import count, examples

pytestmark = pytest.mark.unit

#: Every code point but the surrogates (U+D800–U+DFFF), which UTF-8 cannot encode.
scalar = st.characters(exclude_categories=["Cs"])
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
HOSTILE = [c for c in NASTY_CHARS if c not in SURROGATES] + [
    "\u200f",  # right-to-left mark
    "\u2067",  # right-to-left isolate
    "\u0301\u0301\u0301",  # stacked combining acute accents
    "e\u0301",  # decomposed é (NFKC composes it)
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a family emoji joined by ZWJ
    "\U0001f1fa\U0001f1f3",  # a flag: two regional indicators
    "\ufb01",  # the "fi" ligature (NFKC splits it)
    "\u3000",  # ideographic space
]
#: Whitespace, punctuation and symbols only: no word character, so the uniform basin.
WORDLESS = " \t\n\r\x0b\x0c\u00a0\u2028\u3000.,;:!?-()[]{}<>/\\|@#$%^&*+=~`'\"\u2014\u00bf"

hostile_text = st.one_of(
    st.text(scalar, max_size=60),
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(scalar, max_size=6)), max_size=12).map(
        "".join
    ),
    st.text(st.sampled_from(WORDLESS), max_size=40),
    # Very long runs: far past the encoder's 256 word pieces.
    st.builds(
        lambda unit, n: (unit * n)[:20_000],
        st.sampled_from(["a", "\x00", "é", "word ", "\u0301", "\U0001f600", " ", "\u202e"]),
        st.integers(0, 20_000),
    ),
    st.text(scalar, min_size=2_000, max_size=20_000),
)
texts = st.lists(hostile_text, min_size=1, max_size=3)


@pytest.fixture(params=list(CoordizerKind), ids=str)
def kind(request: pytest.FixtureRequest) -> Iterator[CoordizerKind]:
    """Runs the coordizer of ``request.param``; the kind before comes back afterwards."""
    before = coordizer.running()
    coordizer.use(request.param)
    try:
        yield request.param
    finally:
        coordizer.use(before)


def assert_basin(basin: np.ndarray) -> None:
    assert basin.shape == (BASIN_DIM,)
    assert basin.dtype == np.float64
    assert np.isfinite(basin).all()
    assert (basin >= 0).all()
    assert abs(float(basin.sum()) - 1.0) <= 1e-9


def check_texts(items: list[str]) -> None:
    many = coordizer.coordize_many(items)
    assert many.shape == (len(items), BASIN_DIM)
    for text, row in zip(items, many, strict=True):
        one = coordizer.coordize(text)
        assert_basin(one)
        assert np.array_equal(one, coordizer.coordize(text)), "same text, another basin"
        assert np.array_equal(one, row), "coordize_many disagrees with coordize"


# The encoder costs tens of milliseconds per prompt, the static table under one: the
# encoder gets the smaller budget. ``kind`` switches once per test, not per example.
FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.mark.parametrize("kind", [CoordizerKind.ENCODER], indirect=True, ids=str)
@settings(max_examples=examples(30), deadline=None, suppress_health_check=FIXTURE_OK)
@given(items=texts)
def test_encoder_basins_of_hostile_text_are_valid_and_deterministic(
    kind: CoordizerKind, items: list[str]
) -> None:
    count("coordizer_encoder")
    check_texts(items)


@pytest.mark.parametrize("kind", [CoordizerKind.STATIC], indirect=True, ids=str)
@settings(max_examples=examples(200), deadline=None, suppress_health_check=FIXTURE_OK)
@given(items=texts)
def test_static_basins_of_hostile_text_are_valid_and_deterministic(
    kind: CoordizerKind, items: list[str]
) -> None:
    count("coordizer_static")
    check_texts(items)


def test_text_without_a_word_character_is_the_uniform_point(kind: CoordizerKind) -> None:
    for text in ["", WORDLESS, "\x00" * 50, "\u0301" * 10]:
        assert np.array_equal(coordizer.coordize(text), np.full(BASIN_DIM, 1.0 / BASIN_DIM))


ENTRY_POINTS: list[Callable[[list[str]], object]] = [
    coordizer.coordize_many,
    coordizer.compute_many,
    coordizer.project_many,
    lambda items: [coordizer.coordize(t) for t in items],
]


@settings(max_examples=examples(40), deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    before=st.lists(hostile_text, max_size=2),
    prefix=st.text(scalar, max_size=20),
    surrogate=st.sampled_from(SURROGATES),
    suffix=st.text(scalar, max_size=20),
    entry=st.sampled_from(ENTRY_POINTS),
)
def test_a_lone_surrogate_is_a_validation_error(
    kind: CoordizerKind,
    before: list[str],
    prefix: str,
    surrogate: str,
    suffix: str,
    entry: Callable[[list[str]], object],
) -> None:
    count("coordizer_surrogate")
    items = [*before, prefix + surrogate + suffix]
    with pytest.raises(ValidationError, match="surrogate") as raised:
        entry(items)
    assert f"offset {len(prefix)}" in raised.value.message
