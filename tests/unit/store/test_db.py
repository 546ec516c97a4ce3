from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from pantheon.errors import DatabaseUnavailableError
from pantheon.store.db import Database, _use_wal, shared_database

pytestmark = pytest.mark.unit


def test_sqlite_pragmas_and_transactions(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database(make_settings(database_url_raw=f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        assert db.dialect_name == "sqlite"
        assert db.ping()
        with db.session() as s:
            assert s.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
            assert s.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
            assert s.execute(sa.text("PRAGMA busy_timeout")).scalar() == 30000
            s.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            s.execute(sa.text("INSERT INTO t VALUES (1)"))

        def insert_then_fail() -> None:
            with db.session() as s:
                s.execute(sa.text("INSERT INTO t VALUES (2)"))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            insert_then_fail()
        with db.session(write=False) as s:
            assert s.execute(sa.text("SELECT x FROM t")).scalars().all() == [1]
    finally:
        db.dispose()


def test_write_session_holds_the_sqlite_write_lock(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database(make_settings(database_url_raw=f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        with db.session() as s:
            s.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        with db.session() as s:
            s.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE: reserved lock taken already
            other = db.engine.raw_connection()
            try:
                other.execute("PRAGMA busy_timeout=0")
                with pytest.raises(Exception, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
    finally:
        db.dispose()


def test_unreachable_postgres_is_transient_unavailable(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(database_url_raw="postgresql://nobody@127.0.0.1:1/none")
    db = Database(settings)
    try:
        assert db.dialect_name == "postgresql"
        assert db.ping() is False
        with pytest.raises(DatabaseUnavailableError) as info, db.session() as s:
            s.execute(sa.text("SELECT 1"))
        assert info.value.transient
    finally:
        db.dispose()


def test_shared_database_is_one_per_url(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = make_settings(database_url_raw=f"sqlite:///{tmp_path / 'a.db'}")
    b = make_settings(database_url_raw=f"sqlite:///{tmp_path / 'b.db'}")
    assert shared_database(a) is shared_database(a)
    assert shared_database(a) is not shared_database(b)
    assert "a.db" in repr(shared_database(a))


class _LockedCursor:
    """A cursor whose WAL switch meets another process's write lock ``times`` times."""

    statements: list[str]

    def __init__(self, times: int, message: str = "database is locked") -> None:
        self.left, self.message, self.statements = times, message, []

    def execute(self, sql: str) -> _LockedCursor:
        self.statements.append(sql)
        if sql == "PRAGMA journal_mode=WAL" and self.left:
            self.left -= 1
            raise sqlite3.OperationalError(self.message)
        return self

    def fetchone(self) -> tuple[str]:
        return ("delete",)


def test_the_wal_switch_waits_out_another_writers_lock() -> None:
    """Two ``pantheon db upgrade`` on a new file: SQLite refuses the second process's
    switch to WAL at once ("database is locked", no busy handler); it is retried."""
    cursor = _LockedCursor(times=3)
    _use_wal(cursor)
    assert cursor.statements.count("PRAGMA journal_mode=WAL") == 4
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _use_wal(_LockedCursor(times=1, message="disk I/O error"))  # other errors: at once
