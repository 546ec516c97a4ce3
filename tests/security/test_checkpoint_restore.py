"""Checkpoint restore accepts only checkpoints the store knows: no ids it never issued, no
path traversal, no foreign URIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pantheon.errors import NotFoundError, ValidationError
from pantheon.store.blobs import DirectoryBlobStore
from pantheon.store.migrate import ensure_schema
from pantheon.store.models import checkpoints
from pantheon.training.results import CheckpointResult
from pantheon.training.service import TrainingService
from tests.security.conftest import TOKEN, MakeClient

pytestmark = pytest.mark.unit

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("checkpoint_id", ["999999", "0", "-1"])
def test_restore_of_an_unknown_id_is_404(make_client: MakeClient, checkpoint_id: str) -> None:
    resp = make_client().post(f"/api/checkpoints/{checkpoint_id}/restore", headers=AUTH)
    assert resp.status_code in (404, 422), resp.text


@pytest.mark.parametrize(
    "checkpoint_id",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "file:%2F%2F%2Fetc%2Fpasswd",
        "s3:%2F%2Fbucket%2Fk",
        "1.5",
        "%2E%2E",
        "1;DROP TABLE checkpoints",
        "99999999999999999999999999",
    ],
)
def test_restore_refuses_anything_but_an_id(make_client: MakeClient, checkpoint_id: str) -> None:
    resp = make_client().post(f"/api/checkpoints/{checkpoint_id}/restore", headers=AUTH)
    assert resp.status_code in (404, 422), (checkpoint_id, resp.status_code, resp.text)


@pytest.mark.parametrize(
    "uri",
    [
        "file://../outside.bin",
        "file://a/../../outside.bin",
        "file:///etc/passwd",
        "file://",
        "file://a\\..\\..\\outside.bin",
        "file://a\x00b",
    ],
)
def test_directory_store_refuses_paths_outside_its_root(tmp_path: Path, uri: str) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"secret")
    store = DirectoryBlobStore(root)
    with pytest.raises((NotFoundError, ValidationError)):
        store.get(uri)


def test_directory_store_refuses_a_symlink_out_of_its_root(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"secret")
    (root / "link.bin").symlink_to(tmp_path / "outside.bin")
    with pytest.raises(NotFoundError):
        DirectoryBlobStore(root).get("file://link.bin")


@pytest.mark.parametrize(
    "uri", ["s3://bucket/key", "http://127.0.0.1/x", "db://1", "/etc/passwd", "FILE://x"]
)
def test_directory_store_refuses_foreign_uris(tmp_path: Path, uri: str) -> None:
    with pytest.raises(ValidationError):
        DirectoryBlobStore(tmp_path).get(uri)


def test_directory_store_round_trip_still_works(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)
    uri = store.put("zeus/1.ckpt", b"bytes")
    assert store.get(uri) == b"bytes"


@pytest.mark.parametrize(
    "uri",
    [
        "file://../../etc/passwd",
        "file:///etc/passwd",
        "s3://bucket/zeus.ckpt",
        "http://127.0.0.1:1/zeus.ckpt",
        "db://1",
        "file://zeus/../../../outside.bin",
    ],
)
def test_restore_refuses_a_tampered_row(make_settings: Any, tmp_path: Path, uri: str) -> None:
    """A checkpoint row pointing outside the store (a foreign scheme, a path out of its root)
    is refused; the live kernel stays as it was."""
    settings = make_settings(checkpoint_store="directory")
    ensure_schema(settings)
    service = TrainingService(settings)
    try:
        saved = service.save_checkpoint("zeus")
        assert isinstance(saved, CheckpointResult), saved
        checkpoint_id = saved.checkpoint_id
        (tmp_path / "outside.bin").write_bytes(b"not a checkpoint")
        with service.database.session() as session:
            session.execute(
                sa.update(checkpoints).where(checkpoints.c.id == checkpoint_id).values(uri=uri)
            )
        with pytest.raises((NotFoundError, ValidationError)):
            service.restore_checkpoint(checkpoint_id)
    finally:
        service.database.dispose()
