"""One engine (one connection pool) per process, transactional sessions, and the column
types that make both backends hand back the same values (UTC timestamps, JSON, ids).

SQLite: WAL journal, a busy timeout and foreign keys on every connection. The pysqlite
driver's own transaction handling is switched off so SQLAlchemy's ``begin`` emits the
``BEGIN``: write sessions start with ``BEGIN IMMEDIATE``, which takes SQLite's write lock
up front, so a read-then-write transaction never fails half-way with ``database is
locked``; read sessions use a plain deferred ``BEGIN`` and never block writers (WAL).

PostgreSQL: ``postgresql+psycopg``. Row locks (``SELECT ... FOR UPDATE``) serialise
writers of one kernel instead of a file lock. A pooled connection is pinged before use only
when it has sat idle in the pool for ``PING_AFTER_IDLE_S`` or more (:func:`_ping_if_idle`):
SQLAlchemy's ``pool_pre_ping`` pings on every checkout, one more round trip per request.
One-statement writes on a request path (a routing decision, a few outcomes) run on a
second pool in autocommit mode, with no ``BEGIN`` or ``COMMIT`` round trip: a decision's
through ``Database.autocommit``, retried once on a connection found dead (the write is
idempotent), outcomes' through ``Database.single_statement``, not retried.

Each pool is fixed-size (``PANTHEON_DB_POOL_SIZE`` connections, no overflow): a connection
is opened the first time concurrency needs it and then kept. SQLAlchemy's overflow
connections are closed when they are returned (the ``max_overflow`` parameter of
``QueuePool``, https://docs.sqlalchemy.org/en/20/core/pooling.html), so with a small pool
and an overflow every request above the pool's size opened and closed a PostgreSQL
connection of its own (docs/CAPACITY.md, "A pool that keeps its connections").

Connection-level failures (``OperationalError``, ``InterfaceError``) surface as
:class:`~pantheon.errors.DatabaseUnavailableError` (``transient``: worker retries, API 503).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session

from pantheon.config import Settings
from pantheon.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Connections a pool may open beyond ``PANTHEON_DB_POOL_SIZE``: none (see above).
MAX_OVERFLOW = 0
#: A PostgreSQL connection idle in the pool this long (seconds) is pinged before use.
#: Busy connections are not: under load each is reused within milliseconds, and a ping per
#: checkout cost about a tenth of single-outcome intake's throughput (docs/CAPACITY.md,
#: "Pinging idle connections only"). HikariCP skips its check the same way for a
#: connection used in the last 500 ms (``com.zaxxer.hikari.aliveBypassWindowMs`` in
#: https://github.com/brettwooldridge/HikariCP/blob/dev/src/main/java/com/zaxxer/hikari/pool/HikariPool.java).
#: A connection dropped by the server inside that window fails its statement instead
#: (a 503 on the web, a retry on the worker); SQLAlchemy then replaces every pooled
#: connection older than the failure, so the next checkout gets a new one.
PING_AFTER_IDLE_S = 0.5
_IDLE_SINCE = "pantheon_idle_since"
_BEGIN_OPTION = "pantheon_sqlite_begin"
_live: weakref.WeakSet[Database] = weakref.WeakSet()


def _redact(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


class Database:
    """The process's engine and session factory for one database URL."""

    def __init__(self, settings: Settings, url: str | None = None) -> None:
        self.settings = settings
        self.url = url or settings.database_url
        self.engine = self._create_engine(self.url, settings)
        self.dialect_name: str = self.engine.dialect.name
        # Same pool, different BEGIN: write sessions lock SQLite at their first statement.
        self.write_engine: Engine = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        _live.add(self)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect_name == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.dialect_name == "postgresql"

    @staticmethod
    def _create_engine(url: str, settings: Settings) -> Engine:
        if url.startswith("sqlite"):
            path = sa.engine.make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(
                url,
                pool_size=settings.db_pool_size,
                max_overflow=MAX_OVERFLOW,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        return _postgres_engine(url, settings)

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any exception.

        ``write=False`` is for read-only work: on SQLite it does not take the write lock.
        """
        bind = self.write_engine if write else self.engine
        try:
            with Session(bind=bind, expire_on_commit=False) as session, session.begin():
                yield session
        except (exc.OperationalError, exc.InterfaceError) as err:
            log.warning("database error on %s: %s", self.dialect_name, err.orig or err)
            raise DatabaseUnavailableError(
                f"database unavailable: {err.orig or err}", dialect=self.dialect_name
            ) from err

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A plain connection with a transaction (Core only), same error mapping."""
        try:
            with self.write_engine.begin() as conn:
                yield conn
        except (exc.OperationalError, exc.InterfaceError) as err:
            raise DatabaseUnavailableError(f"database unavailable: {err.orig or err}") from err

    @cached_property
    def autocommit_engine(self) -> Engine:
        """PostgreSQL: a second pool, for the request path's one-statement writes, whose
        connections run each statement in its own transaction (no ``BEGIN`` or ``COMMIT``
        round trip) and are pinged only when idle, as the session pool's. Its own pool,
        not the session pool's connections switched per checkout: setting the mode at
        checkout and resetting it at checkin cost about 60,000 instructions per stored
        outcome (docs/CAPACITY.md, "Single intake: one statement, no transaction")."""
        return _postgres_engine(self.url, self.settings, isolation_level="AUTOCOMMIT")

    def autocommit(self, work: Callable[[sa.Connection], None]) -> None:
        """Run ``work`` (one statement, committed by itself) on :attr:`autocommit_engine`,
        and run it once more on a new connection if the first one was found dead.

        A pre-ping is a round trip before every checkout; on ``POST /api/route`` it was as
        long as the decision's INSERT itself. A busy pooled connection is not pinged, so a
        dead one is found by the statement: SQLAlchemy invalidates it
        (``connection_invalidated``) and ``work`` runs once more on a new connection, the
        "optimistic" disconnect handling of
        https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-optimistic.
        ``work`` must be safe to run twice (the decision's INSERT has a fixed primary key
        and ``ON CONFLICT DO NOTHING``: a first attempt that did commit makes the second
        write nothing).
        Connection failures raise :class:`DatabaseUnavailableError`.
        """
        for attempt in (1, 2):
            try:
                with self.autocommit_engine.connect() as conn:
                    work(conn)
                return
            except exc.DBAPIError as err:
                if attempt == 1 and err.connection_invalidated:
                    log.info("database connection lost; retrying once on a new one")
                    continue
                if isinstance(err, exc.OperationalError | exc.InterfaceError):
                    raise DatabaseUnavailableError(
                        "database unavailable", dialect=self.dialect_name
                    ) from err
                raise

    @contextmanager
    def single_statement(self) -> Iterator[sa.Connection]:
        """A connection of :attr:`autocommit_engine` for work whose writes are one
        statement, which PostgreSQL commits by itself. Unlike :meth:`autocommit`, never
        retried: the statement may have committed before its connection failed, and the
        work (storing outcomes without a key) need not be idempotent.

        Work may use the driver's cursor (``store._pg_bulk``: through SQLAlchemy's
        ``exec_driver_sql`` the same statement cost about 280,000 more instructions in the
        web per outcome), so SQLAlchemy does not see the driver's errors. A connection-level
        one is handled as SQLAlchemy handles a disconnect: the connection is dropped, and so
        is every other one in the pool (the server most likely restarted), then
        :class:`DatabaseUnavailableError`.
        """
        dbapi = self.engine.dialect.loaded_dbapi
        driver_lost = (dbapi.OperationalError, dbapi.InterfaceError)
        try:
            with self.autocommit_engine.connect() as conn:
                try:
                    yield conn
                except driver_lost:
                    conn.invalidate()
                    self.autocommit_engine.dispose()  # the others: a new pool, new connections
                    raise
        except (exc.OperationalError, exc.InterfaceError, *driver_lost) as err:
            log.warning("database error on %s: %s", self.dialect_name, err)
            raise DatabaseUnavailableError(
                f"database unavailable: {err}", dialect=self.dialect_name
            ) from err

    def ping(self) -> bool:
        """True when a trivial query answers; never raises."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except exc.SQLAlchemyError as err:
            log.warning("database ping failed: %s", err)
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        if "autocommit_engine" in self.__dict__:
            self.autocommit_engine.dispose()

    def __repr__(self) -> str:
        return f"Database({_redact(self.url)})"


def _postgres_engine(url: str, settings: Settings, **options: Any) -> Engine:
    """A fixed-size PostgreSQL pool that pings a connection only when it sat idle (no
    ``pool_pre_ping``); ``options`` for ``create_engine`` (the autocommit pool's mode).
    The session pool and the one-statement pool are both made here, so they keep one
    policy for sizing, recycling, connecting and pinging."""
    engine = sa.create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=MAX_OVERFLOW,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
        **options,
    )
    event.listen(engine, "connect", _mark_idle)
    event.listen(engine, "checkin", _mark_idle)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _mark_idle(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:  # None: a connection detached or invalidated before checkin
        record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that sat idle for ``PING_AFTER_IDLE_S`` or more; a dead one raises
    ``InvalidatePoolError``, on which the pool replaces it and every older connection and
    tries the checkout again (SQLAlchemy's ``PoolEvents.checkout`` contract:
    https://docs.sqlalchemy.org/en/20/core/events.html#sqlalchemy.events.PoolEvents.checkout).
    """
    if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) < PING_AFTER_IDLE_S:
        return
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("SELECT 1")
    except Exception as err:  # psycopg's errors: any failure here means "do not use it"
        raise exc.InvalidatePoolError(f"idle connection failed its ping: {err}") from err
    finally:
        cursor.close()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN, instead of pysqlite's implicit one.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        _use_wal(cursor)
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Put the database file in WAL mode, waiting out another process's lock.

    WAL is a property of the file and persists (https://www.sqlite.org/wal.html), so a
    connection to a file already in WAL only reads the mode. Switching a new file needs an
    exclusive lock, and SQLite answers "database is locked" at once, without the busy
    handler, while another process holds a write lock on it in the old journal mode (seen
    when two processes run ``pantheon db upgrade`` on a new file together): that one case
    is retried until the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _sqlite_on_begin(conn: sa.Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


# --- one Database per URL per process -------------------------------------------------
_shared: dict[tuple[int, str], Database] = {}
_shared_lock = threading.Lock()


def shared_database(settings: Settings) -> Database:
    """The process-wide :class:`Database` for ``settings.database_url`` (one pool)."""
    key = (os.getpid(), settings.database_url)
    with _shared_lock:
        db = _shared.get(key)
        if db is None:
            db = _shared[key] = Database(settings)
        return db


def _after_fork_in_child() -> None:
    # A forked worker must not reuse the parent's sockets: drop them without closing.
    # (``_shared`` is keyed by pid, so the parent's entries are never handed out here.)
    for db in list(_live):
        db.engine.dispose(close=False)
        if "autocommit_engine" in db.__dict__:
            db.autocommit_engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --- column types ----------------------------------------------------------------------
#: JSON on SQLite, JSONB on PostgreSQL.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
#: BIGINT on PostgreSQL; INTEGER on SQLite so the primary key is the rowid alias.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: The largest id a BIGINT (and SQLite's INTEGER) holds: no row has a larger one, and the
#: drivers refuse to bind one.
MAX_ID = 2**63 - 1


def names_a_row(row_id: int) -> bool:
    """Whether ``row_id`` can be a primary key here: ids start at 1 and fit a BIGINT.

    Lookups by an id from outside ask this first and answer "no such row" otherwise: a
    driver raises ``OverflowError`` (SQLite) or ``NumericValueOutOfRange`` (PostgreSQL)
    for an id it cannot bind, which would surface as a server error.
    """
    return 1 <= row_id <= MAX_ID


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
