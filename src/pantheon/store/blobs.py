"""The blob store: where checkpoint bytes live, a directory or the database (``checkpoint_blobs``).

Named *blob* store so that "store" alone keeps one meaning: the :mod:`pantheon.store`
package, the database access layer.

``put(key, data) -> uri``, ``get(uri) -> bytes``, ``delete(uri)``, ``list_uris()``.
URIs are ``file://<key relative to the root>`` and ``db://<blob id>``. ``get`` accepts only
URIs the blob store itself issues: a foreign scheme is a :class:`ValidationError`, a path that
resolves outside the root (``..``, symlinks, absolute paths) or an unknown id is a
:class:`NotFoundError`. The database blob store is the production choice (every service and
machine shares it; a Railway volume attaches to one service only).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.errors import NotFoundError, ValidationError
from pantheon.fileio import write_atomic
from pantheon.store.db import Database
from pantheon.store.models import checkpoint_blobs

log = logging.getLogger(__name__)

_KEY_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_UNSAFE_RE = re.compile(r"[^a-z0-9._-]")


def safe_key_part(name: str) -> str:
    """A file-name-safe form of a kernel name (``a/b:c`` -> ``a_b_c``)."""
    return _UNSAFE_RE.sub("_", name.lower()) or "_"


@dataclass(frozen=True)
class BlobInfo:
    uri: str
    created_at: datetime
    size: int


class BlobStore(Protocol):
    scheme: str

    def put(self, key: str, data: bytes, *, session: Session | None = None) -> str: ...

    def get(self, uri: str) -> bytes: ...

    def delete(self, uri: str) -> bool: ...

    def list_uris(self) -> list[str]: ...

    def list_blobs(self) -> list[BlobInfo]: ...


def _check_key(key: str) -> None:
    parts = key.split("/")
    if not parts or not all(_KEY_PART_RE.match(p) and p not in (".", "..") for p in parts):
        raise ValidationError(f"invalid checkpoint key {key!r}")


class DirectoryBlobStore:
    """Blobs as files under ``root`` (the embedded default)."""

    scheme = "file"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, uri: str) -> Path:
        prefix = f"{self.scheme}://"
        if not uri.startswith(prefix):
            raise ValidationError(f"not a checkpoint URI of this store: {uri!r}")
        rel = uri[len(prefix) :]
        if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
            raise NotFoundError(f"checkpoint blob not found: {uri!r}", uri=uri)
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise NotFoundError(f"checkpoint blob not found: {uri!r}", uri=uri)
        return path

    def put(self, key: str, data: bytes, *, session: Session | None = None) -> str:
        _check_key(key)
        path = self.root / key
        write_atomic(path, data, temp_prefix=".tmp-", temp_suffix=".part")
        return f"{self.scheme}://{key}"

    def get(self, uri: str) -> bytes:
        path = self._path(uri)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise NotFoundError(f"checkpoint blob not found: {uri!r}", uri=uri) from exc

    def delete(self, uri: str) -> bool:
        path = self._path(uri)
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    def list_blobs(self) -> list[BlobInfo]:
        if not self.root.exists():
            return []
        out = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                st = path.stat()
                rel = path.relative_to(self.root).as_posix()
                when = datetime.fromtimestamp(st.st_mtime, UTC)
                out.append(BlobInfo(f"{self.scheme}://{rel}", when, st.st_size))
        return sorted(out, key=lambda b: b.uri)

    def list_uris(self) -> list[str]:
        return [b.uri for b in self.list_blobs()]


class DatabaseBlobStore:
    """Blobs as rows of ``checkpoint_blobs`` (shared by every service and machine)."""

    scheme = "db"

    def __init__(self, database: Database) -> None:
        self.database = database

    def _id(self, uri: str) -> int:
        prefix = f"{self.scheme}://"
        if not uri.startswith(prefix):
            raise ValidationError(f"not a checkpoint URI of this store: {uri!r}")
        text = uri[len(prefix) :]
        if not text.isdigit() or len(text) > 18:
            raise NotFoundError(f"checkpoint blob not found: {uri!r}", uri=uri)
        return int(text)

    def put(self, key: str, data: bytes, *, session: Session | None = None) -> str:
        """Store ``data``; inside ``session`` when given (commits with the caller)."""
        _check_key(key)
        stmt = (
            sa.insert(checkpoint_blobs)
            .values(key=key, data=data, created_at=utcnow())
            .returning(checkpoint_blobs.c.id)
        )
        if session is not None:
            blob_id = int(session.execute(stmt).scalar_one())
        else:
            with self.database.session() as own:
                blob_id = int(own.execute(stmt).scalar_one())
        return f"{self.scheme}://{blob_id}"

    def get(self, uri: str) -> bytes:
        blob_id = self._id(uri)
        with self.database.session(write=False) as session:
            data = session.execute(
                sa.select(checkpoint_blobs.c.data).where(checkpoint_blobs.c.id == blob_id)
            ).scalar_one_or_none()
        if data is None:
            raise NotFoundError(f"checkpoint blob not found: {uri!r}", uri=uri)
        return bytes(data)

    def delete(self, uri: str) -> bool:
        blob_id = self._id(uri)
        with self.database.session() as session:
            result = session.execute(
                sa.delete(checkpoint_blobs).where(checkpoint_blobs.c.id == blob_id)
            )
            return int(result.rowcount or 0) > 0  # type: ignore[attr-defined]

    def list_blobs(self) -> list[BlobInfo]:
        t = checkpoint_blobs
        stmt = sa.select(t.c.id, t.c.created_at, sa.func.length(t.c.data)).order_by(t.c.id)
        with self.database.session(write=False) as session:
            return [
                BlobInfo(f"{self.scheme}://{i}", created, int(size or 0))
                for i, created, size in session.execute(stmt)
            ]

    def list_uris(self) -> list[str]:
        return [b.uri for b in self.list_blobs()]


def create_blob_store(settings: Settings, database: Database) -> BlobStore:
    """The store ``settings.checkpoint_store_kind`` names."""
    if settings.checkpoint_store_kind == "database":
        return DatabaseBlobStore(database)
    return DirectoryBlobStore(settings.checkpoint_dir)
