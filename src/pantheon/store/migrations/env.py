"""Alembic environment: the URL comes from Settings (never from an ini file).

``pantheon.store.migrate`` passes its Settings in ``config.attributes["settings"]``; a
bare ``alembic`` invocation falls back to ``Settings()`` (the environment). On PostgreSQL
a transaction-level advisory lock makes concurrent ``upgrade`` calls (web and worker
starting together) run one after the other instead of racing on CREATE TABLE.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from pantheon.config import Settings
from pantheon.store.db import Database
from pantheon.store.models import Base

MIGRATION_LOCK_ID = 0x50414E54  # "PANT"

config = context.config
settings = config.attributes.get("settings") or Settings()


def run_offline() -> None:
    context.configure(
        url=settings.database_url,
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=settings.is_sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    database = Database(settings)
    try:
        with database.write_engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=database.is_sqlite,
                # Database emits BEGIN (IMMEDIATE) itself on SQLite, so DDL is transactional
                # there too: a failed migration leaves no half-built schema.
                transactional_ddl=True,
            )
            with context.begin_transaction():
                if database.is_postgresql:
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_ID}
                    )
                context.run_migrations()
    finally:
        database.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
