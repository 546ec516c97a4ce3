"""Column types shared by the models: UTC timestamps and the binary basin format.

A basin is stored as 64 little-endian float32 values (256 bytes, ``LargeBinary``), not
JSON: the hourly batch reads tens of thousands of rows per second, and decoding one
``bytes`` join with ``numpy.frombuffer`` is far cheaper than parsing JSON arrays.
float32 keeps ~7 significant digits, ample for simplex coordinates of prompts.

A claim checks each row it took (:func:`split_decodable`: a basin of 64 finite,
non-negative float32 values, a finite reward in [-1, 1]) and quarantines the bad ones
(:mod:`pantheon.store.quarantine`), so one corrupt row never fails, and so never blocks,
its god's training.
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


def _row_error(row: Any) -> str | None:
    """Why a claimed (id, basin, reward, success) row cannot be trained on, or None."""
    blob = row[1]
    if not isinstance(blob, bytes | bytearray | memoryview) or len(blob) != BASIN_BYTES:
        return "a stored basin is not 64 float32 values"
    try:
        reward = float(row[2])
        bool(row[3])
    except (TypeError, ValueError):
        return "a stored reward or success is not a number"
    if not np.isfinite(reward) or not -1.0 <= reward <= 1.0:
        return "a stored reward is not a finite number in [-1, 1]"
    basin = np.frombuffer(bytes(blob), dtype="<f4")
    if not np.isfinite(basin).all() or (basin < 0).any():
        return "a stored basin has non-finite or negative coordinates"
    return None


def split_decodable(rows: Sequence[Any]) -> tuple[list[Any], list[tuple[int, str]]]:
    """(rows that decode, [(id, reason)] of those that do not)."""
    good: list[Any] = []
    bad: list[tuple[int, str]] = []
    for row in rows:
        reason = _row_error(row)
        if reason is None:
            good.append(row)
        else:
            bad.append((int(row[0]), reason))
    return good, bad
