"""A coordizer spy: records every ``coordize_many`` call, can stand in for another version."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import pytest
from numpy.typing import NDArray

from pantheon.learning import coordizer

Encode = Callable[[Sequence[str]], NDArray[np.float64]]


class Counting:
    """``coordize_many`` that records every call (and can stand in for another version)."""

    def __init__(self, inner: Encode, shift: int = 0) -> None:
        self.inner = inner
        self.shift = shift
        self.calls: list[list[str]] = []

    def __call__(self, texts: Sequence[str], vocabulary: object = None) -> NDArray[np.float64]:
        self.calls.append(list(texts))
        return np.roll(self.inner(texts), self.shift, axis=1)

    @property
    def prompts(self) -> list[str]:
        return [t for call in self.calls for t in call]


def pin_version(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """Make ``coordizer.COORDIZER_VERSION`` read ``version`` for one test. (Setting the
    module attribute itself would outlive the test: monkeypatch's undo would write the
    version it read back as a plain attribute, hiding the running coordizer's.)"""
    monkeypatch.setattr(coordizer, "_version", lru_cache(maxsize=1)(lambda: version))
