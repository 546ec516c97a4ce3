"""The three learning timescales, each with what the store records about it."""

from __future__ import annotations

from enum import StrEnum

from pantheon.store import outcomes as outcome_rows


class Timescale(StrEnum):
    """A timescale's value is its label in ``training_history.timescale``."""

    ONLINE = "online"
    HOURLY = "hourly_batch"
    NIGHTLY = "nightly_consolidation"

    @property
    def column(self) -> str:
        """The ``outcomes`` column that marks a row trained at this timescale."""
        return _COLUMNS[self]

    @property
    def trigger(self) -> str:
        """The ``trigger`` a kernel version saved by this timescale carries."""
        return _TRIGGERS[self]


_COLUMNS = {
    Timescale.ONLINE: outcome_rows.ONLINE,
    Timescale.HOURLY: outcome_rows.BATCH,
    Timescale.NIGHTLY: outcome_rows.CONSOLIDATED,
}
# An online step's version names what caused it (one outcome's arrival); the others
# name their job.
_TRIGGERS = {
    Timescale.ONLINE: "outcome",
    Timescale.HOURLY: "hourly_batch",
    Timescale.NIGHTLY: "nightly_consolidation",
}
