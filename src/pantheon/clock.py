"""The one wall clock of the package: timezone-aware UTC now.

Every timestamp written to the database or shown on the API comes from :func:`utcnow`, so
a test or a replay that needs another clock has one name to look for.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
