"""Exactly-once checks read from the store of record.

Lost: an accepted outcome that never got ``trained_online_at``. Duplicated: an outcome id
listed by more than one online ``training_history`` row (``details["outcome_ids"]``); when
the store does not list ids, the kernels' ``outcomes_trained`` total above the number of
trained rows is counted instead (it cannot say which outcome doubled).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa


@dataclass
class Audit:
    accepted: int
    trained_once: int
    lost: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    #: Extra online trainings seen only in totals (no per-outcome ids in the history).
    excess_steps: int = 0
    per_outcome_ids: bool = False

    @property
    def n_lost(self) -> int:
        return len(self.lost)

    @property
    def n_duplicated(self) -> int:
        return len(self.duplicated) + self.excess_steps


class Auditor:
    """Queries over one database (its own small engine, pre-ping so it survives restarts)."""

    def __init__(self, database_url: str) -> None:
        self.engine = sa.create_engine(database_url, pool_pre_ping=True, pool_size=2)
        self.meta = sa.MetaData()

    def close(self) -> None:
        self.engine.dispose()

    def _table(self, name: str) -> sa.Table:
        if name not in self.meta.tables:
            sa.Table(name, self.meta, autoload_with=self.engine)
        return self.meta.tables[name]

    def pending(self, ids: Sequence[int], column: str = "trained_online_at") -> int:
        """How many of ``ids`` are not yet marked at ``column``."""
        if not ids:
            return 0
        t = self._table("outcomes")
        pending = 0
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(ids)), 5000):
                query = sa.select(sa.func.count()).where(t.c.id.in_(chunk), t.c[column].is_(None))
                pending += int(conn.execute(query).scalar_one())
        return pending

    def wait_trained(
        self,
        ids: Sequence[int],
        timeout: float,
        column: str = "trained_online_at",
        *,
        stall: float | None = None,
    ) -> float | None:
        """Seconds until every id is marked, or None when ``timeout`` passed first or, with
        ``stall``, when no further id was marked for ``stall`` seconds."""
        began = time.monotonic()
        fewest: int | None = None
        progressed = began
        while time.monotonic() - began < timeout:
            try:
                left: int | None = self.pending(ids, column)
            except sa.exc.OperationalError:
                left = None  # the database is down on purpose in some scenarios
            if left == 0:
                return time.monotonic() - began
            now = time.monotonic()
            if left is not None and (fewest is None or left < fewest):
                fewest, progressed = left, now
            elif stall is not None and now - progressed > stall:
                return None
            time.sleep(0.2)
        return None

    def all_outcome_ids(self) -> list[int]:
        t = self._table("outcomes")
        with self.engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(sa.select(t.c.id).order_by(t.c.id))]

    def step_mismatches(self) -> dict[str, tuple[int, int]]:
        """Kernels whose ``step_count`` differs from the steps their history rows add up to:
        a rolled-back attempt that still moved the kernel shows up here."""
        k = self._table("kernels")
        h = self._table("training_history")
        with self.engine.connect() as conn:
            counts = dict(conn.execute(sa.select(k.c.name, k.c.step_count)).all())
            steps = dict(
                conn.execute(
                    sa.select(h.c.kernel_name, sa.func.sum(h.c.steps)).group_by(h.c.kernel_name)
                ).all()
            )
        return {
            name: (int(count), int(steps.get(name) or 0))
            for name, count in counts.items()
            if int(steps.get(name) or 0) != int(count)
        }

    def ids_for_keys(self, keys: Iterable[str]) -> dict[str, int]:
        t = self._table("outcomes")
        found: dict[str, int] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(keys)), 5000):
                rows = conn.execute(
                    sa.select(t.c.outcome_key, t.c.id).where(t.c.outcome_key.in_(chunk))
                )
                found.update({k: int(i) for k, i in rows})
        return found

    def history(self, timescale: str) -> list[dict[str, Any]]:
        t = self._table("training_history")
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.timescale == timescale).order_by(t.c.id))
            return [dict(r._mapping) for r in rows]

    def audit(self, accepted_ids: Sequence[int], timescale: str = "online") -> Audit:
        column = {"online": "trained_online_at", "hourly_batch": "batch_processed_at"}[timescale]
        ids = sorted(set(accepted_ids))
        lost: list[int] = []
        t = self._table("outcomes")
        with self.engine.connect() as conn:
            for chunk in _chunks(ids, 5000):
                rows = conn.execute(
                    sa.select(t.c.id).where(t.c.id.in_(chunk), t.c[column].is_(None))
                )
                lost.extend(int(r[0]) for r in rows)
        history = self.history(timescale)
        listed = Counter[int]()
        per_outcome = False
        for row in history:
            details = row.get("details") or {}
            if isinstance(details, dict) and "outcome_ids" in details:
                per_outcome = True
                listed.update(int(i) for i in details["outcome_ids"])
        wanted = set(ids)
        duplicated = sorted(i for i, n in listed.items() if n > 1 and i in wanted)
        excess = 0
        if not per_outcome:
            # Per god, so one god's shortfall cannot hide another god's double training.
            trained = self._trained_by_god(timescale, history)
            marked = self._marked_by_god(column)
            excess = sum(max(0, n - marked.get(god, 0)) for god, n in trained.items())
        return Audit(
            accepted=len(ids),
            trained_once=len(ids) - len(lost) - len(duplicated),
            lost=lost,
            duplicated=duplicated,
            excess_steps=excess,
            per_outcome_ids=per_outcome,
        )

    def _marked_by_god(self, column: str) -> dict[str, int]:
        t = self._table("outcomes")
        query = (
            sa.select(t.c.god_name, sa.func.count())
            .where(t.c[column].is_not(None))
            .group_by(t.c.god_name)
        )
        with self.engine.connect() as conn:
            return {str(g): int(n) for g, n in conn.execute(query)}

    def _trained_by_god(self, timescale: str, history: list[dict[str, Any]]) -> dict[str, int]:
        """Outcomes each god's kernel says it trained on at ``timescale``."""
        if timescale == "online":
            k = self._table("kernels")
            query = sa.select(k.c.god_name, k.c.outcomes_trained).where(k.c.kind == "god")
            with self.engine.connect() as conn:
                return {str(g): int(n or 0) for g, n in conn.execute(query)}
        totals: dict[str, int] = {}
        for row in history:
            # A god's shadow trains on the same chunk: count each chunk once, by the god's row.
            if row.get("kernel_name") == row.get("god_name"):
                god = str(row["god_name"])
                totals[god] = totals.get(god, 0) + int(row.get("outcomes") or 0)
        return totals

    def schedule_runs(self, job: str | None = None) -> list[dict[str, Any]]:
        t = self._table("schedule_runs")
        query = sa.select(t).order_by(t.c.slot)
        if job is not None:
            query = query.where(t.c.job == job)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def kernel_states(self) -> dict[str, tuple[int, int, bytes]]:
        """name -> (version, step_count, state bytes)."""
        k = self._table("kernels")
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(k.c.name, k.c.version, k.c.step_count, k.c.state))
            return {r[0]: (int(r[1]), int(r[2]), bytes(r[3])) for r in rows}


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
