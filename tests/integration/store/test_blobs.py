from __future__ import annotations

import pytest

from pantheon.config import Settings
from pantheon.errors import NotFoundError, ValidationError
from pantheon.store.blobs import DatabaseBlobStore, DirectoryBlobStore, create_blob_store
from pantheon.store.db import Database

pytestmark = pytest.mark.integration


def test_database_store_round_trip(db: Database) -> None:
    store = DatabaseBlobStore(db)
    uri = store.put("zeus/a.ckpt", b"\x00\x01data")
    assert uri.startswith("db://")
    assert store.get(uri) == b"\x00\x01data"
    with db.session() as s:
        inside = store.put("zeus/b.ckpt", b"in a transaction", session=s)
    assert store.get(inside) == b"in a transaction"
    (first, second) = store.list_blobs()
    assert first.uri == uri
    assert first.size == 6
    assert second.uri == inside
    assert store.delete(uri) is True
    assert store.delete(uri) is False
    assert store.list_uris() == [inside]
    with pytest.raises(NotFoundError):
        store.get(uri)


def test_blob_of_a_rolled_back_transaction_is_gone(db: Database) -> None:
    store = DatabaseBlobStore(db)

    def crash_after_put() -> None:
        with db.session() as s:
            store.put("zeus/c.ckpt", b"x", session=s)
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash_after_put()
    assert store.list_uris() == []


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        ("db://abc", NotFoundError),
        ("db://", NotFoundError),
        ("db://1/../2", NotFoundError),
        ("db://99999", NotFoundError),
        ("file://zeus/a.ckpt", ValidationError),
        ("s3://bucket/key", ValidationError),
    ],
)
def test_database_store_refuses_unknown_uris(db: Database, uri: str, error: type) -> None:
    with pytest.raises(error):
        DatabaseBlobStore(db).get(uri)


def test_factory_follows_settings(settings: Settings, db: Database) -> None:
    store = create_blob_store(settings, db)
    expected = DirectoryBlobStore if settings.is_sqlite else DatabaseBlobStore
    assert isinstance(store, expected)
    forced = settings.model_copy(update={"checkpoint_store": "database"})
    assert isinstance(create_blob_store(forced, db), DatabaseBlobStore)
