"""The checkpoint byte format: an .npz without pickle plus JSON metadata and a sha256.

Members: ``arrays/<name>.npy`` (float64 kernel arrays) and ``meta.npy`` (the JSON metadata
as a uint8 array). Metadata: ``format_version``, ``kernel`` (name), ``kind``, ``seed``,
``kernel_version``, ``step_count``, ``trigger``, ``created_at`` (UTC ISO), ``metrics``,
``state`` (the kernel's scalar state) and ``sha256`` over the arrays' names, shapes and
bytes. The same bytes are a kernel's live state in the database and a checkpoint blob.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import threading
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npformat
from numpy.typing import NDArray

from pantheon.errors import CheckpointError, ValidationError
from pantheon.fileio import write_atomic

from .kernel import Kernel

FORMAT_VERSION = 1
MAX_BYTES = 64 * 1024 * 1024  # far above any kernel; refuses zip bombs before inflating
#: numpy reads each array header with ``ast.literal_eval``. On CPython 3.11 the AST
#: constructor's recursion counter is shared by the interpreter's threads, and two threads
#: building ASTs at once can fail with a spurious ``SystemError: AST constructor recursion
#: depth mismatch`` (https://github.com/python/cpython/issues/106905). That error read as a
#: corrupt checkpoint and failed a god's hourly batch while another god's kernel was read
#: beside it (``training._fanout`` runs two gods at once). Parsing takes this lock, so
#: checkpoint headers are parsed one at a time in a process.
_PARSE_LOCK = threading.Lock()
_META = "meta"
_PREFIX = "arrays/"


def _digest(arrays: Mapping[str, NDArray[np.float64]]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name], dtype="<f8")
        h.update(name.encode("utf-8") + b"\0" + repr(arr.shape).encode("ascii") + b"\0")
        h.update(arr.tobytes())
    return h.hexdigest()


def _json_safe(value: Any) -> Any:
    """Metrics as strict JSON: non-finite floats (e.g. the loss of an empty batch) → None."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def dumps(kernel: Kernel, **meta: Any) -> bytes:
    """Serialise a kernel; ``meta`` may hold ``trigger``, ``metrics`` (JSON values)."""
    state = kernel.state_dict()
    arrays = state["arrays"]
    info = {
        "format_version": FORMAT_VERSION,
        "kernel": kernel.name,
        "kind": kernel.kind,
        "seed": kernel.seed,
        "kernel_version": state["meta"]["kernel_version"],
        "step_count": kernel.step_count,
        "trigger": str(meta.get("trigger", "manual")),
        "created_at": str(meta.get("created_at") or datetime.now(UTC).isoformat()),
        "metrics": _json_safe(dict(meta.get("metrics") or {})),
        "state": state["meta"],
        "sha256": _digest(arrays),
    }
    try:
        blob = json.dumps(info, sort_keys=True, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"checkpoint metadata must be JSON: {exc}") from exc
    members: dict[str, NDArray[Any]] = {_META: np.frombuffer(blob, dtype=np.uint8)}
    members.update({_PREFIX + k: np.ascontiguousarray(v, "<f8") for k, v in arrays.items()})
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **members)
    return buf.getvalue()


def _check_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Refuse object dtypes and implausible shapes before numpy allocates anything."""
    if not info.filename.endswith(".npy"):
        raise CheckpointError(f"unexpected checkpoint member {info.filename!r}")
    with zf.open(info) as fh:
        version = npformat.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = npformat.read_array_header_2_0(fh)
        else:
            raise CheckpointError(f"unsupported array format {version}")
    if dtype.hasobject or dtype.kind not in "fu":
        raise CheckpointError(f"checkpoint member {info.filename!r} has dtype {dtype}")
    if math.prod(shape) * dtype.itemsize > MAX_BYTES:
        raise CheckpointError(f"checkpoint member {info.filename!r} is implausibly large")


def _read_members(data: bytes) -> dict[str, NDArray[Any]]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CheckpointError("checkpoint data must be bytes")
    raw = bytes(data)
    if len(raw) > MAX_BYTES:
        raise CheckpointError("checkpoint is larger than any kernel")
    try:
        with _PARSE_LOCK:
            return _parse_members(raw)
    except CheckpointError:
        raise
    except Exception as exc:  # any parse failure of hostile bytes is a corrupt checkpoint
        raise CheckpointError(f"corrupt or truncated checkpoint: {exc}") from exc


def _parse_members(raw: bytes) -> dict[str, NDArray[Any]]:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > MAX_BYTES or len(infos) > 64:
            raise CheckpointError("checkpoint archive is implausibly large")
        if zf.testzip() is not None:
            raise CheckpointError("checkpoint archive fails its CRC check")
        for info in infos:
            _check_header(zf, info)
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        return {name: np.asarray(npz[name]) for name in npz.files}


def loads(data: bytes, expect_kernel: str | None = None) -> tuple[Kernel, dict[str, Any]]:
    """Parse and verify checkpoint bytes; any defect raises :class:`CheckpointError`."""
    members = _read_members(data)
    meta_arr = members.pop(_META, None)
    if meta_arr is None or meta_arr.dtype != np.uint8 or meta_arr.ndim != 1:
        raise CheckpointError("checkpoint has no metadata")
    try:
        meta = json.loads(meta_arr.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint metadata is not JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise CheckpointError("checkpoint metadata is not an object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"unsupported checkpoint format {meta.get('format_version')!r}")
    arrays: dict[str, NDArray[np.float64]] = {}
    for name, arr in members.items():
        if not name.startswith(_PREFIX) or arr.dtype != np.dtype("<f8"):
            raise CheckpointError(f"unexpected checkpoint member {name!r}")
        arrays[name[len(_PREFIX) :]] = arr
    if _digest(arrays) != meta.get("sha256"):
        raise CheckpointError("checkpoint checksum mismatch")
    state_meta = meta.get("state")
    if not isinstance(state_meta, dict) or state_meta.get("name") != meta.get("kernel"):
        raise CheckpointError("checkpoint kernel state is inconsistent")
    if expect_kernel is not None and meta.get("kernel") != expect_kernel:
        raise CheckpointError(
            f"checkpoint holds kernel {meta.get('kernel')!r}, expected {expect_kernel!r}"
        )
    try:
        kernel = Kernel.from_state_dict({"arrays": arrays, "meta": state_meta})
    except ValidationError as exc:
        raise CheckpointError(f"checkpoint kernel state is invalid: {exc.message}") from exc
    if kernel.kind != meta.get("kind") or kernel.step_count != meta.get("step_count"):
        raise CheckpointError("checkpoint metadata disagrees with its kernel state")
    return kernel, meta


def save(kernel: Kernel, path: str | os.PathLike[str], **meta: Any) -> Path:
    """Write a checkpoint atomically: temp file in the same directory, fsync, rename, fsync."""
    target = Path(path)
    write_atomic(target, dumps(kernel, **meta), temp_prefix=f".{target.name}.", temp_suffix=".tmp")
    return target


def load(
    path: str | os.PathLike[str], expect_kernel: str | None = None
) -> tuple[Kernel, dict[str, Any]]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    return loads(data, expect_kernel=expect_kernel)
