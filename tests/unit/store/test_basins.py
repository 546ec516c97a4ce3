from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from pantheon.store.basins import BASIN_BYTES, decode_basins, encode_basins
from pantheon.store.db import UTCDateTime

pytestmark = pytest.mark.unit


def test_basins_round_trip_as_float32_blobs() -> None:
    rng = np.random.default_rng(1)
    basins = rng.dirichlet(np.ones(64), size=5)
    blobs = encode_basins(basins)
    assert len(blobs) == 5
    assert all(len(b) == BASIN_BYTES for b in blobs)
    back = decode_basins(blobs)
    assert back.shape == (5, 64)
    np.testing.assert_allclose(back, basins, rtol=1e-6, atol=1e-7)


def test_blob_is_little_endian_float32() -> None:
    basin = np.zeros((1, 64))
    basin[0, 0] = 1.0
    (blob,) = encode_basins(basin)
    assert blob[:4] == np.float32(1.0).astype("<f4").tobytes()


def test_decode_empty_and_malformed() -> None:
    assert decode_basins([]).shape == (0, 64)
    with pytest.raises(ValueError, match="64 float32"):
        decode_basins([b"\x00" * 10])


def test_encode_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        encode_basins(np.zeros((2, 63)))


def test_utc_datetime_normalises_and_refuses_naive() -> None:
    col = UTCDateTime()

    class _Dialect:
        name = "sqlite"

    d = _Dialect()
    plus2 = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    stored = col.process_bind_param(plus2, d)  # type: ignore[arg-type]
    assert stored == datetime(2026, 1, 1, 10)
    assert col.process_result_value(stored, d) == datetime(2026, 1, 1, 10, tzinfo=UTC)  # type: ignore[arg-type]
    assert col.process_result_value("2026-01-01 10:00:00", d) == datetime(  # type: ignore[arg-type]
        2026, 1, 1, 10, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="naive"):
        col.process_bind_param(datetime(2026, 1, 1), d)  # type: ignore[arg-type]
