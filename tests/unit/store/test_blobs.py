from __future__ import annotations

import os
from pathlib import Path

import pytest

from pantheon.errors import NotFoundError, ValidationError
from pantheon.store.blobs import DirectoryBlobStore, safe_key_part

pytestmark = pytest.mark.unit


def test_put_get_delete_list(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path / "ckpt")
    uri = store.put("zeus/zeus-v1.ckpt", b"abc")
    assert uri == "file://zeus/zeus-v1.ckpt"
    assert store.get(uri) == b"abc"
    assert store.list_uris() == [uri]
    (blob,) = store.list_blobs()
    assert blob.size == 3
    assert store.delete(uri) is True
    assert store.delete(uri) is False
    assert store.list_uris() == []
    with pytest.raises(NotFoundError):
        store.get(uri)


def test_put_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)
    store.put("a/b.ckpt", b"1")
    store.put("a/b.ckpt", b"2")
    assert store.get("file://a/b.ckpt") == b"2"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.ckpt"]


@pytest.mark.parametrize(
    "uri",
    [
        "file://../secret",
        "file://zeus/../../secret",
        "file:///etc/passwd",
        "file://",
        "file://zeus/..",
    ],
)
def test_get_refuses_paths_outside_root(tmp_path: Path, uri: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_bytes(b"s")
    with pytest.raises(NotFoundError):
        DirectoryBlobStore(root).get(uri)


@pytest.mark.parametrize("uri", ["s3://bucket/x", "db://1", "http://x/y", "/etc/passwd"])
def test_get_refuses_foreign_schemes(tmp_path: Path, uri: str) -> None:
    with pytest.raises(ValidationError):
        DirectoryBlobStore(tmp_path).get(uri)


def test_get_refuses_symlink_escaping_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_bytes(b"s")
    os.symlink(tmp_path / "secret", root / "link.ckpt")
    with pytest.raises(NotFoundError):
        DirectoryBlobStore(root).get("file://link.ckpt")


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b", ".hidden", ""])
def test_put_refuses_unsafe_keys(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValidationError):
        DirectoryBlobStore(tmp_path).put(key, b"x")


def test_safe_key_part_keeps_names_apart_from_paths() -> None:
    assert safe_key_part("gpt-4/turbo:latest") == "gpt-4_turbo_latest"
    assert safe_key_part("Zeus") == "zeus"
    assert "/" not in safe_key_part("a/../../b")
