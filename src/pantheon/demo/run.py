"""The demo's run: the bundled sample through every training job, then held-out figures.

Everything goes through the path the API and the worker use: outcomes are stored by the
intake and trained by tasks sent through the :class:`~pantheon.worker.dispatch.Dispatcher`
(in-process, sync mode, on a fresh SQLite database). The scheduled jobs are fired by the
:class:`~pantheon.worker.embedded.EmbeddedScheduler` on a simulated clock that starts at
23:30 UTC and moves one hour after each quarter of the replay: hourly batches at 00:00 …
04:00, shadow syncs at 00:00 and 04:00, the nightly consolidation at 03:00, checkpoint
cleanup at 04:00, each recorded once per slot in ``schedule_runs``. The simulated night is
the most recent one that ended before the demo started (:func:`clock_start`), so no
record lies in the future: a later ``pantheon up`` on the demo's data runs its schedule
from the real clock as usual instead of skipping every slot up to a future one. A knowledge transfer
and a checkpoint of every kernel are sent directly, as ``POST /api/transfer`` and
``POST /api/checkpoints`` would. 80 % of the sample's prompts are replayed; the other 20 %
are never trained on, and every figure is measured on them.

A last section replays the same training prompts as live traffic on a second database
(:mod:`pantheon.bench.online`): each prompt is routed by the exploring policy, only the
chosen god's verdict goes back with the decision id, and held-out APGR is measured after
each simulated hour, beside the full-information curve above.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pantheon.bench.online import ArmResult, Heldout, open_arm, pair_records, replay_arm
from pantheon.bench.routing import (
    TFIDF_LR,
    RoutingResult,
    evaluate_routing,
    isolated_settings,
    paired_verdicts,
    route_score,
    tfidf_lr_score,
)
from pantheon.config import Settings
from pantheon.datasets.jsonl import JsonLine, iter_lines
from pantheon.datasets.replay import Replayer, build_replayer
from pantheon.datasets.routellm import split_by_prompt
from pantheon.learning import coordizer
from pantheon.learning.coordizer import coordize_many
from pantheon.roster import Roster, canonical, shadow_of
from pantheon.training import queries
from pantheon.worker import queues
from pantheon.worker.embedded import EmbeddedScheduler
from pantheon.worker.schedule import JOBS, JOBS_BY_TASK

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
SAMPLE_FILE = SAMPLE_DIR / "routellm_sample.jsonl.gz"
ROSTER_FILE = SAMPLE_DIR / "roster.json"
HOURS = 4
TRAIN_FRACTION = 0.8
TRANSFER_RATIO = 0.3
#: Live-traffic section: prompts routed before their verdicts come back.
LIVE_CHUNK = 64
#: The simulated clock's start: half an hour before the first hourly slot of a day.
CLOCK_START = (23, 30)
#: Settings of the schedule, pinned so the demo's timeline does not follow the environment.
SCHEDULE_FIELDS = (
    "schedule_hourly",
    "schedule_nightly",
    "schedule_shadow_sync",
    "schedule_cleanup",
    "schedule_outbox",
)

Progress = Callable[[str, int, int], None]


def clock_start(now: datetime) -> datetime:
    """The latest 23:30 UTC whose whole simulated run (until 04:30) is over by ``now``."""
    start = now.astimezone(UTC).replace(
        hour=CLOCK_START[0], minute=CLOCK_START[1], second=0, microsecond=0
    )
    while start + timedelta(hours=HOURS + 1) > now:
        start -= timedelta(days=1)
    return start


@dataclass
class CurvePoint:
    """Held-out figures after one simulated hour (``at``: the simulated time)."""

    hour: int
    at: datetime
    outcomes: int
    accuracy: dict[str, float]
    apgr: float


@dataclass
class GodRow:
    god: str
    outcomes: int
    steps: int
    shadow_steps: int
    loss: float | None
    accuracy: float
    majority: float
    heldout: int


@dataclass
class StepRecord:
    """One step; ``start``/``end``: the simulated time it covers; ``history_upto``: the
    last training-history id it had written, so each history row gets a simulated time."""

    name: str
    seconds: float
    summary: str
    start: datetime
    end: datetime
    history_upto: int = 0


@dataclass
class DemoResult:
    data_dir: Path
    strong: str
    weak: str
    train_outcomes: int
    heldout_outcomes: int
    gods: list[GodRow]
    routing: RoutingResult
    curve: list[CurvePoint]
    steps: list[StepRecord]
    history: list[dict[str, Any]]
    predictions: dict[str, tuple[NDArray[np.float64], NDArray[np.bool_]]]
    checkpoints: int
    seconds: float = 0.0
    transfer: dict[str, Any] = field(default_factory=dict)
    #: The same training prompts as live traffic: routed, only the chosen verdict learnt.
    live: ArmResult | None = None
    #: ``COORDIZER_VERSION`` the demo ran (``PANTHEON_COORDIZER`` picks the kind).
    coordizer_version: str = ""


def load_sample(path: Path = SAMPLE_FILE) -> list[dict[str, Any]]:
    return [line.record for line in iter_lines(path) if line.record is not None]


def _lines(records: list[dict[str, Any]]) -> list[JsonLine]:
    return [JsonLine(i, r) for i, r in enumerate(records, start=1)]


class Demo:
    """One demo run in ``data_dir``; ``progress(step, done, total)`` reports each step."""

    def __init__(self, base: Settings, data_dir: Path, progress: Progress | None = None) -> None:
        isolated = isolated_settings(base, data_dir, ROSTER_FILE)
        defaults = {name: Settings.model_fields[name].default for name in SCHEDULE_FIELDS}
        self.settings = Settings(**{**isolated.model_dump(), **defaults})
        self.now = clock_start(datetime.now(UTC))
        self.data_dir = data_dir
        self.progress = progress or (lambda step, done, total: None)
        self.roster = Roster.from_file(ROSTER_FILE)
        self.steps: list[StepRecord] = []
        self.replayer: Replayer | None = None

    # -- helpers ----------------------------------------------------------------------
    @property
    def service(self) -> Any:
        assert self.replayer is not None
        return self.replayer.service

    def last_history_id(self) -> int:
        rows = queries.training_history(self.service, limit=1)
        return int(rows[-1]["id"]) if rows else 0

    def task(
        self, step: str, task_name: str, at: datetime | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Run one task through the dispatcher (in-process), timed and reported; ``at`` is
        the simulated time it is for (default: the clock)."""
        assert self.replayer is not None
        self.progress(step, 0, 1)
        started = time.perf_counter()
        job = self.replayer.dispatcher.dispatch(task_name, wait=True, **kwargs)
        result: dict[str, Any] = job.result or {}
        moment = at or self.now
        self.steps.append(
            StepRecord(
                step,
                time.perf_counter() - started,
                str(result.get("status", "?")),
                start=moment,
                end=moment,
                history_upto=self.last_history_id(),
            )
        )
        self.progress(step, 1, 1)
        return result

    def scheduler(self) -> EmbeddedScheduler:
        """The embedded scheduler on the simulated clock, primed at its start (nothing due)."""
        scheduler = EmbeddedScheduler(
            self.settings, _Waiting(self), clock=lambda: self.now, beat_alive=lambda: False
        )
        for job in JOBS:
            scheduler.last_sent[job.name] = scheduler.expressions[job.name].slot_at(self.now)
        return scheduler

    def advance(self, scheduler: EmbeddedScheduler, hours: int = 1) -> None:
        """Move the simulated clock and let the scheduler fire every slot that came due."""
        self.now += timedelta(hours=hours)
        scheduler.tick()

    def replay(self, step: str, records: list[dict[str, Any]]) -> int:
        assert self.replayer is not None
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            self.progress(step, done, len(records))

        self.progress(step, 0, len(records))
        started = time.perf_counter()
        report = self.replayer.replay_lines(_lines(records), on_progress=advance)
        summary = f"{report.accepted} stored, {report.dispatched} online tasks"
        if report.bad:
            summary += f", {len(report.bad)} refused"
        self.steps.append(
            StepRecord(
                step,
                time.perf_counter() - started,
                summary,
                start=self.now,
                end=self.now + timedelta(hours=1),  # the hour these outcomes arrived in
                history_upto=self.last_history_id(),
            )
        )
        return report.accepted

    def predictions(self, heldout: list[dict[str, Any]]) -> dict[str, tuple[Any, Any]]:
        """Each god's predicted chance of success on its held-out outcomes, and the truth."""
        out: dict[str, tuple[Any, Any]] = {}
        for god in self.roster.names:
            rows = [r for r in heldout if canonical(r["god_name"]) == god]
            kernel = self.service.get_kernel(god)
            p = kernel.predict_many(coordize_many([r["prompt"] for r in rows])).p_success
            out[god] = (np.asarray(p, np.float64), np.array([bool(r["success"]) for r in rows]))
        return out

    def routing(
        self,
        heldout: list[dict[str, Any]],
        strong: str,
        weak: str,
        *,
        baseline_from: list[dict[str, Any]] | None = None,
    ) -> RoutingResult:
        """Pantheon's routing of ``heldout``; with ``baseline_from`` (the training outcomes),
        also the TF-IDF + LR baseline fitted on them in the same run."""
        prompts, perf_s, perf_w = paired_verdicts(heldout, strong, weak)
        score = route_score(self.service, prompts, strong, weak)
        baselines = (
            {TFIDF_LR: tfidf_lr_score(baseline_from, prompts, strong, weak)}
            if baseline_from is not None
            else None
        )
        return evaluate_routing(perf_s, perf_w, score, strong, weak, baseline_scores=baselines)

    # -- the run ----------------------------------------------------------------------
    def run(self, sample: Path = SAMPLE_FILE) -> DemoResult:
        started = time.perf_counter()
        self.progress("prepare", 0, 1)
        records = load_sample(sample)
        train, heldout = split_by_prompt(records, TRAIN_FRACTION, seed=self.settings.seed)
        rates = {
            g: float(np.mean([r["success"] for r in train if canonical(r["god_name"]) == g]))
            for g in self.roster.names
        }
        strong, weak = sorted(rates, key=rates.__getitem__, reverse=True)[:2]
        self.replayer = build_replayer(self.settings)
        self.progress("prepare", 1, 1)

        scheduler = self.scheduler()
        curve: list[CurvePoint] = []
        replayed = 0
        for hour in range(1, HOURS + 1):
            part = train[(hour - 1) * len(train) // HOURS : hour * len(train) // HOURS]
            replayed += self.replay(f"{self.now:%H:%M} online ({len(part)} outcomes)", part)
            self.advance(scheduler)
            preds = self.predictions(heldout)
            curve.append(
                CurvePoint(
                    hour=hour,
                    at=self.now,
                    outcomes=replayed,
                    accuracy={g: float(np.mean((p >= 0.5) == y)) for g, (p, y) in preds.items()},
                    apgr=self.routing(heldout, strong, weak).figures("pantheon").apgr,
                )
            )

        transfer = self.task(
            f"{self.now:%H:%M} knowledge transfer",
            queues.KNOWLEDGE_TRANSFER,
            transfer_type="evolution",
            source_god=weak,
            target_god=shadow_of(weak),
            transfer_ratio=TRANSFER_RATIO,
        )
        for kernel in self.roster.kernel_names:
            step = f"{self.now:%H:%M} checkpoint {kernel}"
            self.task(step, queues.SAVE_CHECKPOINT, god_name=kernel)
        self.advance(scheduler)  # 04:30: the last hourly batch, a shadow sync, the cleanup

        self.progress("evaluate", 0, 1)
        result = self.collect(
            train=train,
            heldout=heldout,
            strong=strong,
            weak=weak,
            curve=curve,
            transfer=transfer,
        )
        self.progress("evaluate", 1, 1)
        result.live = self.live_traffic(train, heldout, strong, weak)
        result.seconds = time.perf_counter() - started
        return result

    def collect(
        self,
        *,
        train: list[dict[str, Any]],
        heldout: list[dict[str, Any]],
        strong: str,
        weak: str,
        curve: list[CurvePoint],
        transfer: dict[str, Any],
    ) -> DemoResult:
        kernels = {k["god_name"]: k for k in queries.list_kernels(self.service)}
        preds = self.predictions(heldout)
        gods = []
        for god in self.roster.names:
            successes = [bool(r["success"]) for r in train if canonical(r["god_name"]) == god]
            majority = float(np.mean(successes)) >= 0.5
            p, y = preds[god]
            gods.append(
                GodRow(
                    god=self.roster.get(god).display_name,
                    outcomes=int(kernels[god]["outcomes_trained"]),
                    steps=int(kernels[god]["step_count"]),
                    shadow_steps=int(kernels[shadow_of(god)]["step_count"]),
                    loss=kernels[god]["running_loss"],
                    accuracy=float(np.mean((p >= 0.5) == y)),
                    majority=float(np.mean(y == majority)),
                    heldout=len(y),
                )
            )
        history = queries.training_history(self.service, limit=5000)
        checkpoints = len(queries.list_checkpoints(self.service))
        return DemoResult(
            data_dir=self.data_dir,
            strong=self.roster.get(strong).display_name,
            weak=self.roster.get(weak).display_name,
            train_outcomes=len(train),
            heldout_outcomes=len(heldout),
            gods=gods,
            routing=self.routing(heldout, strong, weak, baseline_from=train),
            curve=curve,
            steps=self.steps,
            history=history,
            predictions=preds,
            checkpoints=checkpoints,
            transfer=transfer,
            coordizer_version=str(coordizer.COORDIZER_VERSION),
        )

    def live_traffic(
        self,
        train: list[dict[str, Any]],
        heldout: list[dict[str, Any]],
        strong: str,
        weak: str,
    ) -> ArmResult:
        """The training prompts again, as live traffic on a second database: each one routed
        (exploring policy, decision recorded), only the chosen god's verdict posted back
        with its decision id, the schedule on its own simulated clock."""
        stream = pair_records(train, strong, weak, self.settings.seed)
        prompts, perf_s, perf_w = paired_verdicts(heldout, strong, weak)
        held = Heldout(coordize_many(prompts), perf_s, perf_w)
        live_dir = self.data_dir / "live"
        live_dir.mkdir(parents=True, exist_ok=True)
        arm = open_arm("bandit", self.settings, live_dir, strong, weak)
        try:
            return replay_arm(
                arm,
                stream,
                held,
                every=max(1, len(stream) // HOURS),
                hours=HOURS,
                chunk_size=LIVE_CHUNK,
                progress=lambda _arm, done, total: self.progress("live traffic", done, total),
            )
        finally:
            arm.close()

    def close(self) -> None:
        if self.replayer is not None:
            self.replayer.dispatcher.close()
            self.service.database.dispose()


class _Waiting:
    """The dispatcher as the embedded scheduler sees it, but each job runs to its end.

    The demo's clock is simulated, so a job must finish before the clock moves on; the
    job still goes through :meth:`Demo.task` (the real dispatcher, with its ``slot``).
    """

    def __init__(self, demo: Demo) -> None:
        self.demo = demo

    def dispatch(self, task_name: str, *, wait: bool | None = None, **kwargs: Any) -> Any:
        job = JOBS_BY_TASK[task_name]
        slot = datetime.fromisoformat(str(kwargs["slot"]))
        return self.demo.task(f"{slot:%H:%M} {job.name}", task_name, at=slot, **kwargs)

    def beat_alive(self) -> bool:
        return False
