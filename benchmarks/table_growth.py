"""Cost versus table size: the store's hot paths with 100k and with 10M outcomes stored.

    python -m benchmarks.table_growth [--small 100000] [--big 10000000] [--out bench-results]

Two scratch databases on the PostgreSQL server (migrated to head) are filled by binary
``COPY`` with outcomes already trained at every timescale (the steady state: retention
keeps 90 days of them), plus the same small set of untrained, queued outcomes in each,
then ``VACUUM ANALYZE``-ed and checkpointed. Each path is timed in the benchmark process
through the product's own store functions, the two databases taking turns call by call
(so a change in the machine's load hits both alike); the figure per path is the median:

- ``intake_single``: ``store_outcomes`` of one keyed outcome (committed, as intake does);
- ``intake_batch``: ``store_outcomes`` of 1,000 keyed outcomes (per call);
- ``route``: ``decisions.route`` (kernels from the cache, the prompt's basin cached, one
  decision INSERT committed): what ``POST /api/route`` asks of the database;
- ``hourly_claim``: ``claim(god, BATCH, 1000)`` on the queued outcomes, rolled back;
- ``online_claim``: ``claim(god, ONLINE, 64)``, rolled back;
- ``outbox_sweep``: ``pending_online(older_than=0, limit=1000)``.

``table_growth_cost_ratio`` is the worst ratio (big over small) of these paths. Filler rows
carry short text and no basin, which keeps a 10M-row load to minutes; every path above
reads through indexes, and one that did not would scan a table 100 times larger.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from benchmarks.pipeline_baselines import libpq_url
from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.learning.coordizer import COORDIZER_VERSION
from pantheon.roster import Roster
from pantheon.store import migrate
from pantheon.store import outcomes as outcome_rows
from pantheon.store.basins import encode_basins
from pantheon.store.outcome_intake import insert_outcomes, store_outcomes
from pantheon.training import decisions
from pantheon.training.service import TrainingService

log = logging.getLogger("benchmarks.table_growth")

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PATHS = ("intake_single", "intake_batch", "route", "hourly_claim", "online_claim", "outbox_sweep")
#: Untrained outcomes each database holds (queued for the batch, not trained online).
PENDING = 3000
_BLOCK = 50_000
_FILL_COLUMNS = (
    "god_name, prompt, response, success, score, reward, source_type, created_at, "
    "trained_online_at, batch_processed_at, consolidated_at"
)


def create_database(server: str) -> str:
    name = f"pantheon_bench_growth_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(server) + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def drop_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    with psycopg.connect(libpq_url(server) + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fill_block(gods: list[str]) -> bytes:
    """``_BLOCK`` rows in COPY text format, trained at every timescale, spread over 80
    days (inside the default 90-day retention)."""
    now = utcnow()
    lines = []
    for n in range(_BLOCK):
        at = (now - timedelta(days=80 * n / _BLOCK)).isoformat()
        lines.append(
            "\t".join(
                (gods[n % len(gods)], f"filler prompt {n} about a topic", "filler answer",
                 "t" if n % 3 else "f", "0.5", "0.25", "replay", at, at, at, at)
            )
        )  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def fill(url: str, total: int, gods: list[str]) -> float:
    """COPY ``total`` trained filler outcomes in; returns the seconds it took."""
    block = _fill_block(gods)
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        left = total
        while left > 0:
            take = min(left, _BLOCK)
            data = block if take == _BLOCK else b"".join(block.splitlines(True)[:take])
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY outcomes ({_FILL_COLUMNS}) FROM STDIN") as cp,
            ):
                cp.write(data)
            conn.commit()
            left -= take
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE outcomes")
    return time.perf_counter() - started


def _rows(
    n: int, god: str, tag: str, basin: bytes | None, version: str | None
) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {"outcome_key": f"{tag}-{uuid.uuid4().hex}", "god_name": god, "prompt": f"p {tag} {i}",
         "response": "r", "success": bool(i % 2), "score": None, "phi": None, "kappa": None,
         "coherence_score": None, "basin": basin, "coordizer_version": version,
         "reward": 0.5 if i % 2 else -0.5, "source_type": "chat", "source_id": None,
         "created_at": now}
        for i in range(n)
    ]  # fmt: skip


class Target:
    """One database under test: its settings, service and the timed operations."""

    def __init__(self, url: str, data_dir: Path, god: str) -> None:
        self.settings = Settings(database_url_raw=url, env="test", task_mode="sync",
                                 data_dir=data_dir)  # fmt: skip
        migrate.upgrade(self.settings)
        self.service = TrainingService(self.settings)
        self.database = self.service.database
        self.god = god
        self.version = COORDIZER_VERSION
        self.basin = encode_basins(np.full((1, 64), 1 / 64))[0]

    def seed_pending(self) -> None:
        with self.database.session() as s:
            insert_outcomes(
                s.connection(), _rows(PENDING, self.god, "pending", self.basin, self.version)
            )
        with self.database.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                sa.text("VACUUM ANALYZE outcomes")
            )

    def ops(self) -> dict[str, Callable[[], None]]:
        def intake(n: int) -> Callable[[], None]:
            def run() -> None:
                store_outcomes(self.database, _rows(n, self.god, "in", None, None))

            return run

        def rolled_back(work: Callable[[Session], object]) -> Callable[[], None]:
            def run() -> None:
                with Session(bind=self.database.write_engine) as s:
                    s.begin()
                    work(s)
                    s.rollback()

            return run

        prompt = "What is the capital of France, and why is it there?"

        def route() -> None:
            decisions.route(self.service, prompt)

        return {
            "intake_single": intake(1),
            "intake_batch": intake(1000),
            "route": route,
            "hourly_claim": rolled_back(
                lambda s: outcome_rows.claim(s, self.god, outcome_rows.BATCH, 1000)
            ),
            "online_claim": rolled_back(
                lambda s: outcome_rows.claim(s, self.god, outcome_rows.ONLINE, 64)
            ),
            "outbox_sweep": rolled_back(lambda s: outcome_rows.pending_online(s, 0.0, 1000)),
        }

    def close(self) -> None:
        self.database.dispose()


def measure(targets: dict[str, Target], rounds: int, reps: int) -> dict[str, dict[str, float]]:
    """Median seconds per call of each path in each database.

    The databases take turns call by call (which one goes first alternates), so a change
    in the machine's load or in PostgreSQL's background writes hits both alike; per round
    and path each database gets ``reps`` calls (a tenth of that for the batch insert).
    """
    samples: dict[str, dict[str, list[float]]] = {n: {p: [] for p in PATHS} for n in targets}
    ops = {name: t.ops() for name, t in targets.items()}
    names = list(targets)
    for name in names:  # warm caches and pools, untimed
        for path in PATHS:
            ops[name][path]()
    for _ in range(rounds):
        for path in PATHS:
            count = max(1, reps // 10) if path == "intake_batch" else reps
            for i in range(count):
                for name in names if i % 2 == 0 else reversed(names):
                    started = time.perf_counter()
                    ops[name][path]()
                    samples[name][path].append(time.perf_counter() - started)
    return {n: {p: statistics.median(v) for p, v in by.items()} for n, by in samples.items()}


def checkpoint(server: str) -> None:
    """Write the fills' dirty pages out before timing: the 10M fill leaves gigabytes of
    them, and PostgreSQL's checkpointer would otherwise flush them during the timed calls,
    which all wait on the same WAL and disk when they commit."""
    with psycopg.connect(libpq_url(server) + "/postgres", autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def run(small: int, big: int, out: Path, rounds: int = 6, reps: int = 30) -> dict[str, Any]:
    gods = list(Roster.default().names)
    urls = {"small": create_database(SERVER), "big": create_database(SERVER)}
    targets: dict[str, Target] = {}
    result: dict[str, Any] = {"table_growth_sizes": {"small": small, "big": big}}
    try:
        for name, url in urls.items():
            target = Target(url, out / "work" / f"growth-{name}", gods[0])
            size = small if name == "small" else big
            log.info("filling %s with %d outcomes", name, size)
            result[f"table_growth_fill_{name}_s"] = fill(url, size, gods)
            target.seed_pending()
            targets[name] = target
        checkpoint(SERVER)
        medians = measure(targets, rounds, reps)
        worst = 0.0
        for path in PATHS:
            low, high = medians["small"][path], medians["big"][path]
            ratio = high / low if low > 0 else float("nan")
            result[f"table_growth_{path}_small_ms"] = low * 1000
            result[f"table_growth_{path}_big_ms"] = high * 1000
            result[f"table_growth_{path}_ratio"] = ratio
            worst = max(worst, ratio)
            log.info("%s: %.2f ms at %d, %.2f ms at %d (x%.2f)", path, low * 1000, small,
                     high * 1000, big, ratio)  # fmt: skip
        result["table_growth_cost_ratio"] = worst
        for name, target in targets.items():
            with target.database.engine.connect() as conn:
                size_bytes = conn.execute(sa.text("SELECT pg_total_relation_size('outcomes')"))
                result[f"table_growth_{name}_bytes"] = int(size_bytes.scalar_one())
    finally:
        for target in targets.values():
            target.close()
        for url in urls.values():
            drop_database(url)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table-growth.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.table_growth", description=__doc__)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    opts = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    result = run(opts.small, opts.big, opts.out.resolve(), opts.rounds, opts.reps)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
