"""The store of record: SQLAlchemy models, the per-process Database, repositories,
checkpoint blob stores and Alembic migrations (``pantheon db upgrade``)."""
