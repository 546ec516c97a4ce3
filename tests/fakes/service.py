"""Test doubles for the worker's delivery tests: a training service and a slot ledger
kept in one SQLite file, so a worker subprocess and the test read the same state.

``FakeService.train_from_outcome`` acts by id: ``1000 + n`` fails transiently n times
first, ``2000 + s`` works for s seconds inside a transaction (soft limits, kills), a
negative id is bad input; anything else trains once and is a duplicate after that.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pantheon.errors import DatabaseUnavailableError, NotFoundError, ValidationError
from pantheon.training.intake import IngestResult, OutcomeIn
from pantheon.training.online import BeforeClaim, FollowUp, OnlineResult
from pantheon.training.results import (
    AllGodsResult,
    CheckpointResult,
    CleanupResult,
    HourlyResult,
    NightlyResult,
    ShadowSyncResult,
    TransferResult,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, op TEXT, arg TEXT, pid INT, at REAL);
CREATE TABLE IF NOT EXISTS trained (outcome_id INTEGER PRIMARY KEY, at REAL);
CREATE TABLE IF NOT EXISTS attempts (key TEXT PRIMARY KEY, n INT);
CREATE TABLE IF NOT EXISTS pending (outcome_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS started (id INTEGER PRIMARY KEY, outcome_id INT, pid INT, at REAL);
CREATE TABLE IF NOT EXISTS schedule_runs (
    job TEXT, slot TEXT, status TEXT, attempts INT, result TEXT, error TEXT, at REAL,
    UNIQUE (job, slot));
"""


class FakeDb:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with self.connect() as conn:
            conn.executescript(SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        try:
            yield conn
        finally:
            conn.close()

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            return list(conn.execute(sql, params))


class SqliteLedger:
    """schedule_runs in the fake's SQLite file, with the store's claim rules."""

    def __init__(self, db: FakeDb) -> None:
        self.db = db

    def claim(self, job: str, slot: datetime, owner: str | None = None) -> bool:
        with self.db.connect() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO schedule_runs VALUES (?, ?, 'running', 1, ?, NULL, ?)",
                (job, slot.isoformat(), json.dumps({"owner": owner}), time.time()),
            )
            if cur.rowcount == 1:
                return True
            cur = conn.execute(
                "UPDATE schedule_runs SET status='running', attempts=attempts+1, result=? "
                "WHERE job=? AND slot=? AND (status='failed' OR (status='running' AND "
                "json_extract(result, '$.owner') = ?))",
                (json.dumps({"owner": owner}), job, slot.isoformat(), owner),
            )
            return cur.rowcount == 1

    def finish(
        self,
        job: str,
        slot: datetime,
        *,
        status: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        with self.db.connect() as conn:
            conn.execute(
                "UPDATE schedule_runs SET status=?, result=?, error=? WHERE job=? AND slot=?",
                (status, json.dumps(result), error, job, slot.isoformat()),
            )

    def last_success(self, job: str) -> datetime | None:
        rows = self.db.rows(
            "SELECT max(slot) FROM schedule_runs WHERE job=? AND status='success'", job
        )
        return datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    def runs(self, job: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT job, slot, status, attempts, result FROM schedule_runs"
        rows = (
            self.db.rows(sql + " WHERE job=? ORDER BY slot", job)
            if job
            else self.db.rows(sql + " ORDER BY job, slot")
        )
        return [
            {
                "job": r[0],
                "slot": r[1],
                "status": r[2],
                "attempts": r[3],
                "result": json.loads(r[4]) if r[4] else None,
            }
            for r in rows
        ]


class FakeService:
    """The nine service operations, recorded in SQLite; behaviour chosen by outcome id."""

    def __init__(self, path: str | Path) -> None:
        self.db = FakeDb(path)
        self.slot_ledger = SqliteLedger(self.db)

    def _record(self, op: str, arg: Any = None) -> None:
        with self.db.connect() as conn:
            conn.execute(
                "INSERT INTO calls (op, arg, pid, at) VALUES (?, ?, ?, ?)",
                (op, json.dumps(arg), os.getpid(), time.time()),
            )

    def _attempt(self, key: str) -> int:
        with self.db.connect() as conn:
            conn.execute("INSERT OR IGNORE INTO attempts VALUES (?, 0)", (key,))
            conn.execute("UPDATE attempts SET n = n + 1 WHERE key = ?", (key,))
            row = conn.execute("SELECT n FROM attempts WHERE key = ?", (key,)).fetchone()
            return int(row[0])

    # --- the service contract ----------------------------------------------------
    def train_from_outcome(
        self,
        outcome_id: int,
        *,
        before_claim: BeforeClaim | None = None,
        follow_up: FollowUp | None = None,
    ) -> OnlineResult:
        if before_claim is not None:
            before_claim("zeus")
        attempt = self._attempt(f"outcome:{outcome_id}")
        if outcome_id < 0:
            raise NotFoundError(f"outcome {outcome_id} does not exist", outcome_id=outcome_id)
        if 1000 <= outcome_id < 2000 and attempt <= outcome_id - 1000:
            raise DatabaseUnavailableError(f"database blip #{attempt}")
        with self.db.connect() as conn:
            conn.execute(
                "INSERT INTO started (outcome_id, pid, at) VALUES (?, ?, ?)",
                (outcome_id, os.getpid(), time.time()),
            )
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute(
                    "SELECT 1 FROM trained WHERE outcome_id = ?", (outcome_id,)
                ).fetchone():
                    conn.execute("ROLLBACK")
                    return OnlineResult(status="duplicate", outcome_id=outcome_id)
                conn.execute("INSERT INTO trained VALUES (?, ?)", (outcome_id, time.time()))
                if 2000 <= outcome_id < 3000:
                    time.sleep(outcome_id - 2000)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._record("train_from_outcome", outcome_id)
        return OnlineResult(
            status="success",
            outcome_id=outcome_id,
            god_name="zeus",
            loss=0.1,
            reward=0.5,
            phi_before=0.4,
            phi_after=0.5,
            step_count=1,
            coalesced=1,
        )

    def train_hourly_batch(self, god: str) -> HourlyResult:
        if god == "nobody":
            raise ValidationError("unknown god 'nobody'")
        self._record("train_hourly_batch", god)
        return HourlyResult("success", god, 0.1, 0.2, 1, 0, 0.0, None)

    def train_hourly_batch_all(self) -> AllGodsResult:
        seconds = float(os.environ.get("PANTHEON_TEST_HOURLY_SECONDS", "0"))
        if seconds:
            with self.db.connect() as conn:
                conn.execute(
                    "INSERT INTO started (outcome_id, pid, at) VALUES (-100, ?, ?)",
                    (os.getpid(), time.time()),
                )
            time.sleep(seconds)
        self._record("train_hourly_batch_all")
        return AllGodsResult({})

    def train_nightly_consolidation(self, god: str) -> NightlyResult:
        self._record("train_nightly_consolidation", god)
        return NightlyResult(god, 0.1, 1, True, 0, 0, None, None, 1, None)

    def train_nightly_consolidation_all(self) -> AllGodsResult:
        self._record("train_nightly_consolidation_all")
        return AllGodsResult({})

    def knowledge_transfer(
        self,
        transfer_type: str,
        source_god: str,
        target_god: str,
        transfer_ratio: float = 0.5,
        extra_params: dict[str, Any] | None = None,
    ) -> TransferResult:
        self._record("knowledge_transfer", [transfer_type, source_god, target_god, transfer_ratio])
        report = {
            "transfer_type": transfer_type,
            "source_id": source_god,
            "target_id": target_god,
            "phi_before": 0.1,
            "phi_after": 0.2,
            "blend_ratio": transfer_ratio,
        }
        return TransferResult(report, 1, 1, False, None)

    def sync_all_shadows(self) -> ShadowSyncResult:
        self._record("sync_all_shadows")
        return ShadowSyncResult({})

    def save_checkpoint(self, god: str, trigger: str = "manual") -> CheckpointResult:
        self._record("save_checkpoint", [god, trigger])
        return CheckpointResult("success", god, 1, "db://1", 1)

    def cleanup_old_checkpoints(self) -> CleanupResult:
        self._record("cleanup_old_checkpoints")
        return CleanupResult(0, 0, 0, 0)

    def ingest(self, outcomes: list[OutcomeIn]) -> IngestResult:
        """Stores nothing: one id per distinct ``outcome_key`` (100, 101, ...)."""
        ids = []
        for o in outcomes:
            with self.db.connect() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO attempts VALUES (?, 0)", (f"key:{o.outcome_key}",)
                )
                row = conn.execute(
                    "SELECT rowid FROM attempts WHERE key = ?", (f"key:{o.outcome_key}",)
                ).fetchone()
            ids.append(100 + int(row[0]))
        return IngestResult(len(ids), 0, ids, ids)

    def pending_online(self, older_than: float, limit: int) -> list[tuple[int, str]]:
        rows = self.db.rows(
            "SELECT outcome_id FROM pending WHERE outcome_id NOT IN "
            "(SELECT outcome_id FROM trained) ORDER BY outcome_id LIMIT ?",
            limit,
        )
        return [(int(r[0]), f"god{int(r[0]) % 2}") for r in rows]

    # --- for assertions -----------------------------------------------------------
    def calls(self, op: str | None = None) -> list[Any]:
        rows = self.db.rows("SELECT op, arg FROM calls ORDER BY id")
        return [json.loads(a) if op else (o, json.loads(a)) for o, a in rows if not op or o == op]

    def trained(self) -> list[int]:
        return [int(r[0]) for r in self.db.rows("SELECT outcome_id FROM trained ORDER BY 1")]

    def add_pending(self, *ids: int) -> None:
        with self.db.connect() as conn:
            conn.executemany("INSERT OR IGNORE INTO pending VALUES (?)", [(i,) for i in ids])
