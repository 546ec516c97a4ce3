"""Column types shared by the models: UTC timestamps and the binary basin format.

A basin is stored as 64 little-endian float32 values (256 bytes, ``LargeBinary``), not
JSON: the hourly batch reads tens of thousands of rows per second, and decoding one
``bytes`` join with ``numpy.frombuffer`` is far cheaper than parsing JSON arrays.
float32 keeps ~7 significant digits, ample for simplex coordinates of prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

BASIN_DIM = 64
BASIN_DTYPE = np.dtype("<f4")
BASIN_BYTES = BASIN_DIM * BASIN_DTYPE.itemsize

#: JSON on SQLite, JSONB on PostgreSQL.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
#: BIGINT on PostgreSQL; INTEGER on SQLite so the primary key is the rowid alias.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        when: datetime = value
        if when.tzinfo is None:
            return when.replace(tzinfo=UTC)
        return when.astimezone(UTC)


def encode_basins(basins: NDArray[np.float64]) -> list[bytes]:
    """One 256-byte blob per row of an (n, 64) array."""
    arr = np.ascontiguousarray(basins, dtype=BASIN_DTYPE)
    if arr.ndim != 2 or arr.shape[1] != BASIN_DIM:
        raise ValueError(f"basins must have shape (n, {BASIN_DIM}), got {arr.shape}")
    raw = arr.tobytes()
    return [raw[i : i + BASIN_BYTES] for i in range(0, len(raw), BASIN_BYTES)]


def decode_basins(blobs: Sequence[bytes]) -> NDArray[np.float64]:
    """The (n, 64) float64 array of n stored basin blobs (one join, one frombuffer)."""
    if not blobs:
        return np.zeros((0, BASIN_DIM), dtype=np.float64)
    raw = b"".join(blobs)
    if len(raw) != len(blobs) * BASIN_BYTES:
        raise ValueError("a stored basin is not 64 float32 values")
    return np.frombuffer(raw, dtype=BASIN_DTYPE).reshape(-1, BASIN_DIM).astype(np.float64)
