"""The three learning timescales, each with what the store records about it."""

from __future__ import annotations

from enum import StrEnum

from pantheon.store import outcomes as outcome_rows


class Timescale(StrEnum):
    """A timescale's value is its label in ``training_history.timescale``; ``column`` is
    the ``outcomes`` column that marks a row trained at it, ``trigger`` what a kernel
    version it saved is tagged with (an online step names its cause: one outcome)."""

    column: str
    trigger: str

    def __new__(cls, label: str, column: str, trigger: str) -> Timescale:
        member = str.__new__(cls, label)
        member._value_ = label
        member.column = column
        member.trigger = trigger
        return member

    ONLINE = ("online", outcome_rows.ONLINE, "outcome")
    HOURLY = ("hourly_batch", outcome_rows.BATCH, "hourly_batch")
    NIGHTLY = ("nightly_consolidation", outcome_rows.CONSOLIDATED, "nightly_consolidation")
