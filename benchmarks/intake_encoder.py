"""What a slow prompt encoder costs intake, before and after basins left the request path.

    .venv/bin/python -m benchmarks.intake_encoder [--delay-ms 10] [--requests 200]
        [--batch 100] [--batches 10] [--server URL | --sqlite]

``coordize_many`` is wrapped to sleep ``--delay-ms`` per prompt on top of the real
coordizer (a sentence encoder costs ~5–25 ms per prompt on one thread). Same run, same
scratch database, distinct prompts (no cache hit):

- *before*: what intake did until basins moved off the request path: one
  ``coordize_many`` over the request's prompts, then the insert;
- *after*: ``intake.ingest`` as it is now (text stored, no basin, nothing encoded);
- *worker*: the cost moves to the claim: one online step over a backlog of
  ``PANTHEON_ONLINE_COALESCE_MAX`` outcomes encodes them in one call, and the hourly batch
  then finds every basin stored.

Prints per-request p50/p99 (single outcomes) and outcomes/s (batches) for both, and the
worker-side timings. PostgreSQL by default (a scratch database, dropped after).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pantheon.config import Settings
from pantheon.learning import coordizer
from pantheon.store.db import Database
from pantheon.store.migrate import ensure_schema
from pantheon.training.encoding import encode_prompts
from pantheon.training.intake import OutcomeIn, ingest
from pantheon.training.service import TrainingService


def _admin(server: str, sql: str) -> None:
    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(sql))
    engine.dispose()


@contextmanager
def _database(server: str | None) -> Iterator[str]:
    if server is None:
        with TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"pantheon_bench_{uuid.uuid4().hex[:10]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def slow(delay_s: float) -> Callable[..., NDArray[np.float64]]:
    real = coordizer.coordize_many

    def coordize_many(texts: Sequence[str], vocabulary: object = None) -> NDArray[np.float64]:
        time.sleep(delay_s * len(texts))
        return real(list(texts))

    return coordize_many


class Items:
    """Distinct prompts, so no cache ever answers."""

    def __init__(self) -> None:
        self.n = 0

    def take(self, k: int, god: str = "zeus") -> list[OutcomeIn]:
        out = [
            OutcomeIn(
                god_name=god,
                prompt=f"request {self.n + i}: explain topic {(self.n + i) % 97} in detail",
                response="an answer",
                success=(self.n + i) % 3 != 0,
            )
            for i in range(k)
        ]
        self.n += k
        return out


def before(service: TrainingService, items: list[OutcomeIn]) -> None:
    encode_prompts([o.prompt for o in items])  # the encoder call intake used to make
    ingest(service, items)


def after(service: TrainingService, items: list[OutcomeIn]) -> None:
    ingest(service, items)


Path_ = Callable[[TrainingService, list[OutcomeIn]], None]


PATHS: dict[str, Path_] = {"before": before, "after": after}


def _single(service: TrainingService, items: Items, n: int) -> dict[str, list[float]]:
    """Milliseconds per one-outcome request; the paths alternate request by request, so
    both see the same load on a shared machine."""
    took: dict[str, list[float]] = {k: [] for k in PATHS}
    for _ in range(n):
        for label, fn in PATHS.items():
            batch = items.take(1)
            t0 = time.perf_counter()
            fn(service, batch)
            took[label].append((time.perf_counter() - t0) * 1000)
    return took


def _batches(service: TrainingService, items: Items, size: int, n: int) -> dict[str, float]:
    """Outcomes/s per path over ``n`` alternating batches of ``size``."""
    total = dict.fromkeys(PATHS, 0.0)
    for _ in range(n):
        for label, fn in PATHS.items():
            batch = items.take(size)
            t0 = time.perf_counter()
            fn(service, batch)
            total[label] += time.perf_counter() - t0
    return {label: size * n / t for label, t in total.items()}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run(args: argparse.Namespace) -> None:
    server = None if args.sqlite else args.server
    with _database(server) as url, TemporaryDirectory() as tmp:
        settings = Settings(
            env="test",
            data_dir=Path(tmp),
            task_mode="sync",
            database_url_raw=url,
            online_drain_seconds=0.0,
        )
        ensure_schema(settings)
        db = Database(settings)
        service = TrainingService(settings, database=db)
        items = Items()
        coordizer_real = coordizer.coordize_many
        coordizer.coordize_many = slow(args.delay_ms / 1000)
        try:
            _single(service, items, 20)  # warm up: connections, imports
            single = _single(service, items, args.requests)
            rate = _batches(service, items, args.batch, args.batches)
            print(
                f"intake with a coordizer {args.delay_ms:g} ms/prompt slower "
                f"({'SQLite' if server is None else 'PostgreSQL'}; {args.requests} single "
                f"requests, {args.batches} batches of {args.batch}):"
            )
            print(
                f"{'path':<8} {'single p50 ms':>14} {'single p99 ms':>14} {'batch outcomes/s':>17}"
            )
            for label in PATHS:
                took = single[label]
                print(
                    f"{label:<8} {statistics.median(took):>14.2f} {_pct(took, 99):>14.2f} "
                    f"{rate[label]:>17,.0f}"
                )
            _worker(service, items, settings.online_coalesce_max)
        finally:
            coordizer.coordize_many = coordizer_real
            db.dispose()


def _worker(service: TrainingService, items: Items, backlog: int) -> None:
    ids = ingest(service, items.take(backlog, god="hera")).new_ids
    t0 = time.perf_counter()
    result = service.train_from_outcome(ids[0])
    online = time.perf_counter() - t0
    t0 = time.perf_counter()
    hourly = service.train_hourly_batch("hera")
    batch = time.perf_counter() - t0
    print(
        f"worker: one online step over {result['coalesced']} pending outcomes (one encoder "
        f"call) {online * 1000:,.0f} ms; the hourly batch over the same "
        f"{hourly['batch_size']} rows afterwards (basins stored) {batch * 1000:,.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--sqlite", action="store_true")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
