"""Replay JSON Lines of outcomes through the same path ``POST /api/outcomes/batch`` takes.

Each chunk of lines is validated as :class:`~pantheon.training.intake.OutcomeIn`, stored by
:func:`~pantheon.training.intake.ingest` in one transaction, then online training is
dispatched once per god through the :class:`~pantheon.worker.dispatch.Dispatcher` (the
online step coalesces that god's other pending outcomes). A line that is not valid JSON,
fails validation or names a god outside the roster is reported with its line number and
skipped; the rest go in.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pantheon.config import Settings
from pantheon.datasets.jsonl import JsonLine, iter_lines
from pantheon.errors import ValidationError as PantheonValidationError
from pantheon.roster import God, Roster, canonical
from pantheon.store.db import Database
from pantheon.store.migrate import ensure_schema
from pantheon.training.intake import OutcomeIn, ingest, validate_batch
from pantheon.training.service import TrainingService
from pantheon.worker.dispatch import Dispatcher
from pantheon.worker.queues import TRAIN_FROM_OUTCOME

log = logging.getLogger(__name__)

#: Outcomes stored per transaction (the API's batch size by default).
DEFAULT_CHUNK = 500
#: The roster file ``--register-gods`` writes when ``PANTHEON_ROSTER_FILE`` is unset.
REGISTERED_ROSTER_NAME = "roster.json"


@dataclass
class ReplayReport:
    """What a replay read, stored, skipped and dispatched."""

    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    dispatched: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    per_god: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return (self.accepted + self.duplicates) / self.seconds if self.seconds > 0 else 0.0


def validate(line: JsonLine, settings: Settings, roster: Roster) -> OutcomeIn | str:
    """The line as an outcome, or why the intake would refuse it."""
    if line.record is None:
        return line.error or "unreadable line"
    try:
        outcome = OutcomeIn.parse(line.record)
    except PantheonValidationError as exc:
        return exc.message
    if outcome.god_name not in roster:
        return f"unknown god {outcome.god_name!r} (use --register-gods to add it to the roster)"
    try:
        validate_batch([outcome], settings, roster)
    except PantheonValidationError as exc:
        return exc.message.removeprefix("outcomes[0].")
    return outcome


def gods_in(path: Path) -> list[str]:
    """Every god name in the file, in order of first appearance (display spelling)."""
    seen: dict[str, str] = {}
    for line in iter_lines(path):
        name = (line.record or {}).get("god_name")
        if isinstance(name, str) and name.strip() and canonical(name) not in seen:
            seen[canonical(name)] = name.strip()
    return list(seen.values())


def register_gods(settings: Settings, names: Iterable[str]) -> tuple[Settings, list[str]]:
    """Extend the roster with ``names``; returns settings pointing at the written file.

    The roster stays settings-driven: the merged roster is written to
    ``PANTHEON_ROSTER_FILE`` when set, else to ``$PANTHEON_DATA_DIR/roster.json``; other
    processes (web, worker, Beat) see the new gods once they run with the same
    ``PANTHEON_ROSTER_FILE``.
    """
    roster = Roster.load(settings.roster_file)
    new = [n for n in names if n not in roster]
    if not new:
        return settings, []
    gods = [*roster, *(God(canonical(n), n.strip(), "") for n in new)]
    Roster(gods)  # refuses invalid names before anything is written
    target = settings.roster_file or settings.data_dir / REGISTERED_ROSTER_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "gods": [
            {"name": g.display_name, "domain": g.domain, "cost_per_call": g.cost_per_call}
            for g in gods
        ]
    }
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    log.info("registered %d new god(s) in %s: %s", len(new), target, ", ".join(new))
    return Settings(**{**settings.model_dump(), "roster_file": target}), new


class Pacer:
    """Keeps a long-run average of at most ``rate`` outcomes per second (``None``: no limit)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate is not None and rate <= 0:
            raise PantheonValidationError(f"--rate must be positive, got {rate}")
        self.rate = rate
        self._clock = clock
        self._start = clock()
        self._sent = 0

    def delay_after(self, count: int) -> float:
        """Seconds to wait once ``count`` more outcomes went out."""
        self._sent += count
        if self.rate is None:
            return 0.0
        return max(0.0, self._start + self._sent / self.rate - self._clock())


class Replayer:
    """Stores outcomes and dispatches their online training, as the batch route does."""

    def __init__(self, service: TrainingService, dispatcher: Dispatcher, roster: Roster) -> None:
        self.service = service
        self.dispatcher = dispatcher
        self.roster = roster

    def send(self, outcomes: list[OutcomeIn], report: ReplayReport) -> None:
        """Ingest one chunk in one transaction, then dispatch once per god with new rows."""
        if not outcomes:
            return
        result = ingest(self.service, outcomes)
        report.accepted += result.accepted
        report.duplicates += result.duplicates
        new = set(result.new_ids)
        for god, ids in result.ids_by_god.items():
            fresh = [i for i in ids if i in new]
            report.per_god[god] += len(fresh)
            if fresh:
                report.dispatched += 1
                report.modes[self.train(fresh[0], god)] += 1

    def train(self, outcome_id: int, god: str) -> str:
        """Dispatch online training; the outcome is committed, so a failure only defers it."""
        try:
            job = self.dispatcher.dispatch(TRAIN_FROM_OUTCOME, outcome_id=outcome_id, god_name=god)
        except Exception as exc:  # stored is what counts; the outbox sweep trains it later
            log.warning(
                "outcome %s stored; training deferred to the outbox sweep (%s: %s)",
                outcome_id,
                type(exc).__name__,
                exc,
            )
            return "deferred"
        return str(job.mode)

    def send_each(self, items: list[tuple[int, OutcomeIn]], report: ReplayReport) -> None:
        """Fallback when a chunk is refused as a whole: find the offending lines one by one."""
        for number, outcome in items:
            try:
                self.send([outcome], report)
            except PantheonValidationError as exc:
                report.bad.append((number, exc.message))

    def replay_lines(
        self,
        lines: Iterable[JsonLine],
        chunk: int = DEFAULT_CHUNK,
        rate: float | None = None,
        on_progress: Callable[[int], None] | None = None,
        report: ReplayReport | None = None,
    ) -> ReplayReport:
        report = report if report is not None else ReplayReport()
        pacer = Pacer(rate)
        if rate is not None:
            # Small chunks so the pace is smooth: about a tenth of a second's worth each.
            chunk = max(1, min(chunk, int(rate / 10) or 1))
        started = time.perf_counter()
        for batch in _chunks(lines, chunk):
            good: list[tuple[int, OutcomeIn]] = []
            for line in batch:
                report.lines += 1
                checked = validate(line, self.service.settings, self.roster)
                if isinstance(checked, str):
                    report.bad.append((line.number, checked))
                else:
                    good.append((line.number, checked))
            try:
                self.send([o for _, o in good], report)
            except PantheonValidationError:
                self.send_each(good, report)
            if on_progress is not None:
                on_progress(len(batch))
            wait = pacer.delay_after(len(good))
            if wait > 0:
                time.sleep(wait)
        report.seconds = time.perf_counter() - started
        return report


def _chunks(lines: Iterable[JsonLine], size: int) -> Iterator[list[JsonLine]]:
    batch: list[JsonLine] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_replayer(settings: Settings) -> Replayer:
    """The store, the training service and the dispatcher the web process would build.

    On SQLite (the embedded default) the schema is brought up to date first, as
    ``pantheon up`` does; PostgreSQL is migrated by ``pantheon db upgrade`` beforehand.
    """
    if settings.is_sqlite:
        ensure_schema(settings)
    roster = Roster.load(settings.roster_file)
    database = Database(settings)
    service = TrainingService(settings, database=database, roster=roster)
    return Replayer(service, Dispatcher(settings, service), roster)


__all__ = [
    "Pacer",
    "ReplayReport",
    "Replayer",
    "build_replayer",
    "gods_in",
    "register_gods",
    "validate",
]
