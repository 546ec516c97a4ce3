"""Rows/s of ``train_hourly_batch`` on PostgreSQL over a backlog of pending outcomes.

    .venv/bin/python -m benchmarks.hourly_batch [--rows 100000] [--server URL]

Creates a scratch database on the server (default the local PostgreSQL), copies in
``--rows`` outcomes as the hourly batch meets them in the steady state (trained online,
basins stored, queued: :func:`benchmarks.pipeline_phases.seed_batch_backlog`, as ``make
bench`` seeds its hourly phase), then times (1) ``train_hourly_batch`` for one god holding
the whole backlog and (2) ``train_hourly_batch_all`` over the same number of rows spread
over every god. In-process, no worker: the figures are the batch's own cost. Prints a
small table; drops the database after.
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import sqlalchemy as sa

from benchmarks.pipeline_phases import Run, seed_batch_backlog
from pantheon.config import Settings
from pantheon.store.db import Database
from pantheon.store.migrate import ensure_schema
from pantheon.training.results import AllGodsResult, HourlyResult
from pantheon.training.service import TrainingService


def _admin(server: str, sql: str) -> None:
    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(sql))
    engine.dispose()


def _fill(url: str, rows: int, gods: list[str]) -> None:
    items = [
        {
            "god_name": gods[i % len(gods)],
            "prompt": f"benchmark prompt {i} about topic {i % 97} and subject {i % 13}",
            "response": "an answer",
            "success": i % 3 != 0,
        }
        for i in range(rows)
    ]
    seed_batch_backlog(Run(web_url="", database_url=url, work_dir=Path()), items)


def run(server: str, rows: int) -> dict[str, float]:
    name = f"pantheon_bench_{uuid.uuid4().hex[:10]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        with TemporaryDirectory() as tmp:
            settings = Settings(
                env="test",
                data_dir=Path(tmp),
                database_url_raw=f"{server}/{name}",
            )
            ensure_schema(settings)
            db = Database(settings)
            service = TrainingService(settings, database=db)
            service.ensure_kernels()
            figures: dict[str, float] = {}
            url = f"{server}/{name}"
            _fill(url, rows, ["zeus"])
            t0 = time.perf_counter()
            one = service.train_hourly_batch("zeus")
            elapsed = time.perf_counter() - t0
            assert isinstance(one, HourlyResult), one
            assert one.batch_size == rows, one
            figures["hourly_one_god_rows_per_s"] = one.batch_size / elapsed
            _fill(url, rows, service.roster.names)
            t0 = time.perf_counter()
            every = service.train_hourly_batch_all()
            elapsed = time.perf_counter() - t0
            assert isinstance(every, AllGodsResult), every
            done = sum(r.batch_size for r in every.results.values() if isinstance(r, HourlyResult))
            assert done == rows, every
            figures["hourly_all_rows_per_s"] = done / elapsed
            db.dispose()
            return figures
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    figures = run(args.server, args.rows)
    print(f"| figure ({args.rows} pending outcomes, PostgreSQL) | value |")
    print("| --- | --- |")
    for key, value in figures.items():
        print(f"| {key} | {value:,.0f} |")


if __name__ == "__main__":
    main()
