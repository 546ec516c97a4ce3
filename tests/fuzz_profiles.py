"""Case budgets and case counts of the property-based (hypothesis) and fuzz tests.

``PANTHEON_FUZZ_PROFILE=fast`` (the default, what ``make test`` runs) keeps every property
to its small budget; ``long`` (what ``make reliability`` runs) multiplies it by
``LONG_FACTOR``. Each generated case calls :func:`count`, and the session prints the totals
at its end (``pytest_terminal_summary`` in ``tests/conftest.py``), so a report says how
many cases actually ran, not how many were asked for.
"""

from __future__ import annotations

import os
from collections import Counter

LONG_FACTOR = 10
PROFILE = os.environ.get("PANTHEON_FUZZ_PROFILE", "fast")
CASES: Counter[str] = Counter()


def examples(fast: int) -> int:
    """The case budget of a property whose fast budget is ``fast``."""
    return fast * LONG_FACTOR if PROFILE == "long" else fast


def count(name: str) -> None:
    CASES[name] += 1
