from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib import format as npformat

from pantheon.errors import CheckpointError
from pantheon.learning import checkpoint
from pantheon.learning.batch import Batch
from pantheon.learning.kernel import KERNEL_KINDS, Kernel

pytestmark = pytest.mark.unit

Members = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def blob() -> bytes:
    kernel = Kernel("zeus")
    rng = np.random.default_rng(0)
    kernel.learn_many(
        Batch(rng.dirichlet(np.ones(64), 50), rng.uniform(-1, 1, 50), rng.random(50) < 0.5)
    )
    return checkpoint.dumps(kernel, trigger="test", metrics={"loss": 0.5})


@pytest.mark.parametrize("kind", KERNEL_KINDS)
def test_round_trip_gives_identical_predictions(
    kind: str, two_kinds_batch: Batch, tmp_path: Path
) -> None:
    kernel = Kernel("zeus", seed=4, kind=kind)
    kernel.learn_many(two_kinds_batch, epochs=5)
    path = checkpoint.save(kernel, tmp_path / "sub" / "zeus.npz", trigger="hourly")
    again, meta = checkpoint.load(path, expect_kernel="zeus")
    np.testing.assert_array_equal(
        kernel.predict_many(two_kinds_batch.basins).p_success,
        again.predict_many(two_kinds_batch.basins).p_success,
    )
    assert meta["kernel"] == "zeus"
    assert meta["kind"] == kind
    assert meta["trigger"] == "hourly"
    assert meta["step_count"] == 5
    assert meta["format_version"] == checkpoint.FORMAT_VERSION
    assert meta["created_at"].endswith("+00:00")
    assert [p.name for p in path.parent.iterdir()] == ["zeus.npz"]  # no temp file left


def test_shadow_is_never_mistaken_for_god(blob: bytes) -> None:
    shadow = checkpoint.dumps(Kernel("zeus_shadow"))
    with pytest.raises(CheckpointError):
        checkpoint.loads(shadow, expect_kernel="zeus")
    with pytest.raises(CheckpointError):
        checkpoint.loads(blob, expect_kernel="zeus_shadow")


def _rewrite(data: bytes, edit: Callable[[Members], None]) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    edit(members)
    buf = io.BytesIO()
    np.savez(buf, **members)
    return buf.getvalue()


def _edit_meta(key: str, value: object) -> Callable[[Members], None]:
    def edit(members: Members) -> None:
        meta = json.loads(members["meta"].tobytes())
        meta[key] = value
        members["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)

    return edit


def test_tampering_is_detected(blob: bytes) -> None:
    def scale(members: Members) -> None:
        members["arrays/param.w_success"] = members["arrays/param.w_success"] * 2

    with pytest.raises(CheckpointError, match="checksum"):
        checkpoint.loads(_rewrite(blob, scale))
    with pytest.raises(CheckpointError, match="format"):
        checkpoint.loads(_rewrite(blob, _edit_meta("format_version", 99)))
    with pytest.raises(CheckpointError):
        checkpoint.loads(_rewrite(blob, _edit_meta("kernel", "hera")))
    with pytest.raises(CheckpointError):
        checkpoint.loads(_rewrite(blob, _edit_meta("step_count", 12345)))


def test_object_array_is_refused_without_unpickling(blob: bytes) -> None:
    def hostile(members: Members) -> None:
        members["arrays/evil"] = np.array([{"a": 1}], dtype=object)

    buf = io.BytesIO()
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    hostile(members)
    np.savez(buf, allow_pickle=True, **members)
    with pytest.raises(CheckpointError):
        checkpoint.loads(buf.getvalue())


def test_truncations_all_fail(blob: bytes) -> None:
    for cut in range(0, len(blob), max(1, len(blob) // 97)):
        with pytest.raises(CheckpointError):
            checkpoint.loads(blob[:cut])


@given(st.binary(max_size=4096))
@settings(max_examples=200, deadline=None)
def test_random_bytes_raise_checkpoint_error(data: bytes) -> None:
    with pytest.raises(CheckpointError):
        checkpoint.loads(data)


@given(st.data())
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_bit_flips_raise_checkpoint_error_or_load_the_same_kernel(
    blob: bytes, data: st.DataObject
) -> None:
    pos = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(blob)
    flipped[pos] ^= 1 << bit
    try:
        kernel, _ = checkpoint.loads(bytes(flipped))
    except CheckpointError:
        return
    # A flip in a byte the format does not read (e.g. a zip timestamp) must change nothing.
    original, _ = checkpoint.loads(blob)
    for key, value in original.state_dict()["arrays"].items():
        np.testing.assert_array_equal(value, kernel.state_dict()["arrays"][key])


def test_zip_without_members_and_non_bytes() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(CheckpointError):
        checkpoint.loads(buf.getvalue())
    with pytest.raises(CheckpointError):
        checkpoint.loads("not bytes")  # type: ignore[arg-type]


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError):
        checkpoint.load(tmp_path / "nope.npz")


def test_huge_claimed_shape_is_refused_before_allocation() -> None:
    header = io.BytesIO()
    npformat.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("arrays/param.w_success.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(CheckpointError, match="implausibly large"):
        checkpoint.loads(buf.getvalue())


def test_non_finite_metrics_are_stored_as_null() -> None:
    data = checkpoint.dumps(Kernel("zeus"), metrics={"loss": float("nan"), "n": np.int64(3)})
    _, meta = checkpoint.loads(data)
    assert meta["metrics"] == {"loss": None, "n": 3}
