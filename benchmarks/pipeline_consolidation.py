"""Nightly consolidation time at 10k, 100k and 1M outcomes, and its log-log exponent.

Run in-process (not through the worker), on synthetic-but-realistic rows: the bundled
sample's real prompts, verdicts and scores, tiled to each size, with their real basins
(coordized once per distinct prompt) and rewards. Two views:

- service: rows written (binary COPY) into a database of their own, one god per size,
  stamped as already trained online and batch-processed (so nothing else picks them up),
  then ``TrainingService.train_nightly_consolidation(god)`` timed — selection of the
  valuable rows, database read, engine and checkpoint, as the nightly job runs it (the
  service trains on at most its cap of most valuable outcomes; the results say how many);
- engine: ``timescales.consolidate`` alone over all the outcomes of each size, uncapped,
  to separate the engine's own scaling from the store's.

Sizes below 1M are timed three times (median).
"""

from __future__ import annotations

import logging
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from benchmarks.pipeline_baselines import libpq_url
from benchmarks.pipeline_stats import loglog_fit
from pantheon.config import Settings
from pantheon.learning.batch import Batch
from pantheon.learning.coordizer import COORDIZER_VERSION, coordize_many
from pantheon.learning.curriculum import curriculum_batch
from pantheon.learning.kernel import Kernel
from pantheon.learning.reward import compute_reward
from pantheon.learning.timescales import consolidate
from pantheon.roster import Roster
from pantheon.store.basins import encode_basins
from pantheon.training.service import TrainingService

log = logging.getLogger(__name__)

SIZES = (10_000, 100_000, 1_000_000)


def repeats(size: int) -> int:
    """Short runs are timed three times (median): one scheduler hiccup is a large share."""
    return 3 if size < 1_000_000 else 1


def base_arrays(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Basins, rewards and successes of the sample rows (one coordize per distinct prompt)."""
    prompts = sorted({r["prompt"] for r in rows})
    index = {p: i for i, p in enumerate(prompts)}
    basins = coordize_many(prompts)
    return {
        "rows": list(rows),
        "basins": basins[[index[r["prompt"]] for r in rows]],
        "rewards": np.array(
            [compute_reward(bool(r["success"]), score=r.get("score")) for r in rows]
        ),
        "successes": np.array([bool(r["success"]) for r in rows]),
    }


def engine_scaling(base: dict[str, Any], sizes: Sequence[int] = SIZES) -> dict[str, Any]:
    """Seconds of ``consolidate`` per size, and the fitted exponent."""
    domains = {g.name: g.domain for g in Roster.default()}
    curriculum = curriculum_batch("zeus", domains)
    times = []
    for size in sizes:
        idx = np.arange(size) % len(base["rows"])
        batch = Batch(base["basins"][idx], base["rewards"][idx], base["successes"][idx])
        runs = []
        for _ in range(repeats(size)):
            started = time.perf_counter()
            consolidate(Kernel("zeus", seed=0), curriculum, batch, seed=0)
            runs.append(time.perf_counter() - started)
        times.append(statistics.median(runs))
        del batch
    fit = loglog_fit(sizes, times)
    return {
        "sizes": list(sizes),
        "seconds": times,
        "exponent": fit.exponent,
        "r_squared": fit.r_squared,
    }


def _copy_outcomes(database_url: str, god: str, base: dict[str, Any], size: int) -> None:
    rows, now = base["rows"], datetime.now(UTC)
    blobs = encode_basins(base["basins"])
    columns = (
        "god_name, prompt, response, success, score, basin, reward, source_type, source_id, "
        "created_at, trained_online_at, batch_processed_at, coordizer_version"
    )
    kinds = ["text", "text", "text", "bool", "float8", "bytea", "float8", "text", "text"]
    kinds += ["timestamptz"] * 3 + ["text"]
    with (
        psycopg.connect(libpq_url(database_url)) as conn,
        conn.cursor() as cur,
        cur.copy(f"COPY outcomes ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(kinds)
        for n in range(size):
            i = n % len(rows)
            row = rows[i]
            copy.write_row(
                (
                    god,
                    row["prompt"],
                    row.get("response") or "",
                    bool(row["success"]),
                    row.get("score"),
                    blobs[i],
                    float(base["rewards"][i]),
                    "replay",
                    f"bench-consolidation:{n}",
                    now,
                    now,
                    now,
                    # The basins are the running coordizer's (``base_arrays``): recorded, so
                    # consolidation does not encode the rows again.
                    COORDIZER_VERSION,
                )
            )


def service_scaling(
    server_url: str,
    migrate: Callable[[str], object],
    base: dict[str, Any],
    data_dir: Path,
    sizes: Sequence[int] = SIZES,
) -> dict[str, Any]:
    """Seconds of ``train_nightly_consolidation`` for one god per size, in a scratch database.

    ``server_url`` is the PostgreSQL server (no database name); ``migrate(url)`` brings a
    fresh database to the current schema (``pantheon db upgrade``).
    """
    name = f"pantheon_bench_consolidation_{uuid.uuid4().hex[:8]}"
    admin = libpq_url(server_url) + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{server_url}/{name}"
    try:
        migrate(url)
        # One god per size and repetition: a consolidation marks what it took, so a repeat
        # needs rows of its own.
        gods = iter(Roster.default().names)
        plan = [[next(gods) for _ in range(repeats(size))] for size in sizes]
        insert_s = []
        for names, size in zip(plan, sizes, strict=True):
            started = time.perf_counter()
            for god in names:
                _copy_outcomes(url, god, base, size)
            insert_s.append(time.perf_counter() - started)
        settings = Settings(database_url_raw=url, env="test", task_mode="sync", data_dir=data_dir)
        service = TrainingService(settings)
        times, results = [], []
        for names in plan:
            runs = []
            for god in names:
                started = time.perf_counter()
                result = service.train_nightly_consolidation(god)
                runs.append(time.perf_counter() - started)
                log.info("consolidation of %s: %.2f s %s", god, runs[-1], result)
            times.append(statistics.median(runs))
            results.append(result)
        close = getattr(getattr(service, "database", None), "dispose", None)
        if callable(close):
            close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    fit = loglog_fit(sizes, times)
    return {
        "sizes": list(sizes),
        "seconds": times,
        "insert_seconds": insert_s,
        "results": results,
        "exponent": fit.exponent,
        "r_squared": fit.r_squared,
    }
