"""Bandit feedback on real outcomes: Pantheon learning to route from its own decisions.

A RouteLLM-format outcome file (every prompt answered by both gods) is replayed as live
traffic through the same code the API runs: each prompt is routed by
:func:`pantheon.training.decisions.route` (the decision is recorded), and only the chosen
god's verdict goes back, with its ``decision_id``, through the intake and the dispatcher
(online training in sync mode), on a fresh SQLite database in a temporary directory. The
replay is spread over simulated hours, and the embedded scheduler fires the real hourly
batches, nightly consolidation, shadow syncs and cleanup on that clock
(:class:`~pantheon.worker.simulated.SimulatedSchedule`). The service is called in-process
(no HTTP): the route and intake functions are the ones behind ``POST /api/route`` and
``POST /api/outcomes/batch``.

Arms, each on its own database, over the same prompts in the same order:
- ``bandit``: the settings' exploring policy (``explore=True``: softmax unless thompson);
- ``greedy``: always the best predicted god (no exploration);
- ``random``: uniform choice (maximal exploration, the lowest success while learning);
- ``full_information``: both verdicts of every prompt, no routing (what ``bench
  routing`` trains on): the ceiling.
Every ``every`` prompts each arm's kernels route the held-out test prompts and their APGR
is recorded (the learning curve). At the end the doubly robust estimate of the final
greedy policy's success, from the bandit arm's log alone, is compared with its true value
(known here, since both gods answered every prompt).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pantheon.bench.basin_file import DEFAULT_DIR, fill_cache, prompt_basins
from pantheon.bench.routing import isolated_settings, paired_verdicts, write_roster
from pantheon.config import Settings
from pantheon.datasets.jsonl import iter_lines
from pantheon.datasets.replay import Replayer, ReplayReport, build_replayer
from pantheon.errors import ValidationError
from pantheon.learning import evaluation, offpolicy
from pantheon.learning.policy import seeded_source
from pantheon.learning.seeds import seed_int
from pantheon.roster import canonical
from pantheon.training import decisions
from pantheon.training import evaluation as ope
from pantheon.training.encoding import BasinCache
from pantheon.training.intake import OutcomeIn
from pantheon.worker.schedule import JOBS_BY_NAME, expression_for
from pantheon.worker.simulated import SimulatedSchedule

Progress = Callable[[str, int, int], None]

ARMS = ("bandit", "greedy", "random", "full_information")
#: Request ``explore`` per routed arm (None: no routing, both verdicts).
EXPLORE: dict[str, bool | float | None] = {"bandit": True, "greedy": False, "random": 1.0}
DEFAULT_EVERY = 1000
DEFAULT_HOURS = 24
#: Prompts routed before their outcomes come back (one intake batch, so one online step
#: per god over its share of them).
DEFAULT_CHUNK = 32


@dataclass
class ArmResult:
    arm: str
    apgr: float
    #: Mean verdict of the chosen god while learning (None for full information).
    success_rate: float | None
    strong_share: float | None
    curve: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class OnlineReport:
    prompts: int
    test_prompts: int
    strong: str
    weak: str
    chunk: int
    policy: dict[str, Any]
    arms: dict[str, ArmResult]
    #: The bandit arm's OPE check (None when the run left the bandit arm out).
    ope_dr: offpolicy.Estimate | None
    ope_true: float
    seconds: float

    def to_json(self) -> dict[str, Any]:
        a = self.arms

        def field_of(arm: str, name: str) -> Any:
            # An arm left out of the run (``arms=``) reports null, never a made-up figure.
            return getattr(a[arm], name) if arm in a else None

        first = next(iter(a.values()))
        curve = [
            {"prompts": n, **{name: round(a[name].curve[i][1], 4) for name in a}}
            for i, (n, _v) in enumerate(first.curve)
        ]
        dr = self.ope_dr
        return {
            "arms": list(a),
            "apgr_bandit": field_of("bandit", "apgr"),
            "apgr_full_information": field_of("full_information", "apgr"),
            "apgr_greedy": field_of("greedy", "apgr"),
            "apgr_random": field_of("random", "apgr"),
            "ope_abs_error": None if dr is None else abs(dr.value - self.ope_true),
            "ope_dr": None if dr is None else dr.value,
            "ope_dr_ci95": None if dr is None else [dr.low, dr.high],
            "ope_true": None if dr is None else self.ope_true,
            "strong_share": field_of("bandit", "strong_share"),
            "strong_share_greedy": field_of("greedy", "strong_share"),
            "success_bandit": field_of("bandit", "success_rate"),
            "success_greedy": field_of("greedy", "success_rate"),
            "success_random": field_of("random", "success_rate"),
            "prompts": self.prompts,
            "test_prompts": self.test_prompts,
            "strong": self.strong,
            "weak": self.weak,
            "policy": self.policy,
            "chunk": self.chunk,
            "learning_curve": curve,
            "seconds": round(self.seconds, 1),
            "arm_seconds": {name: round(r.seconds, 1) for name, r in a.items()},
        }


def _verdict_success(record: Mapping[str, Any]) -> float:
    return 1.0 if record.get("success") else 0.0


Stream = list[tuple[str, dict[str, dict[str, Any]]]]


def pair_records(records: Iterable[Mapping[str, Any]], strong: str, weak: str, seed: int) -> Stream:
    """(prompt, {god: record}) for prompts both gods answered, in a seeded order."""
    wanted = {canonical(strong), canonical(weak)}
    by_prompt: dict[str, dict[str, dict[str, Any]]] = {}
    for r in records:
        if not isinstance(r.get("prompt"), str):
            continue
        god = canonical(str(r.get("god_name", "")))
        if god in wanted:
            by_prompt.setdefault(r["prompt"], {}).setdefault(god, dict(r))
    items = [(p, recs) for p, recs in by_prompt.items() if len(recs) == 2]
    if not items:
        raise ValidationError(f"no training prompt has outcomes of both {strong!r} and {weak!r}")
    order = np.random.default_rng(seed_int(seed, "bench-online")).permutation(len(items))
    return [items[i] for i in order]


def load_train(path: Path, strong: str, weak: str, seed: int) -> Stream:
    records = (line.record for line in iter_lines(path) if line.record is not None)
    return pair_records(records, strong, weak, seed)


def _outcome(record: Mapping[str, Any], decision_id: Any = None) -> OutcomeIn:
    body = {k: v for k, v in record.items() if k not in {"outcome_key", "decision_id"}}
    body["source_type"] = "replay"
    if decision_id is not None:
        body["decision_id"] = decision_id
    return OutcomeIn.parse(body)


class Arm:
    """One arm's replay on its own database."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        strong: str,
        weak: str,
        seed: int,
        *,
        basin_cache: BasinCache | None = None,
        start: datetime | None = None,
    ) -> None:
        self.name = name
        self.replayer: Replayer = build_replayer(settings)
        if basin_cache is not None:
            # Every arm replays the same prompts: one cache for the run encodes each once.
            self.replayer.service.basin_cache = basin_cache
        self.strong, self.weak = canonical(strong), canonical(weak)
        self.source = seeded_source(seed_int(seed, "arm", name))
        if start is None:
            # A simulated night that is long over: no record of the replay lies in the
            # future (replays span a few simulated days at most).
            start = (datetime.now(UTC) - timedelta(days=30)).replace(
                hour=23, minute=30, second=0, microsecond=0
            )
        self.schedule = SimulatedSchedule(settings, self._run_task, start)
        self.report = ReplayReport()
        self.chosen_strong = 0
        self.successes = 0.0
        self.routed = 0

    @property
    def service(self) -> Any:
        return self.replayer.service

    def _run_task(self, task_name: str, **kwargs: Any) -> Any:
        return self.replayer.dispatcher.dispatch(task_name, wait=True, **kwargs)

    def feed(self, chunk: Stream) -> None:
        """Route each prompt (recorded), then post the chosen verdicts as one batch."""
        explore = EXPLORE.get(self.name)
        outcomes: list[OutcomeIn] = []
        for prompt, records in chunk:
            if self.name == "full_information":
                outcomes += [_outcome(records[self.strong]), _outcome(records[self.weak])]
                continue
            decision = decisions.route(
                self.service,
                prompt,
                candidates=[self.strong, self.weak],
                explore=explore,
                source=self.source,
            )
            record = records[decision.god_name]
            self.routed += 1
            self.chosen_strong += decision.god_name == self.strong
            self.successes += _verdict_success(record)
            outcomes.append(_outcome(record, decision.decision_id))
        self.replayer.send(outcomes, self.report)

    def heldout_apgr(
        self, basins: NDArray[np.float64], perf_s: NDArray[np.float64], perf_w: NDArray[np.float64]
    ) -> float:
        """APGR on the test prompts, score = strong's predicted reward minus weak's."""
        s = self.service.get_kernel(self.strong).predict_many(basins).expected_reward
        w = self.service.get_kernel(self.weak).predict_many(basins).expected_reward
        score = np.asarray(s, np.float64) - np.asarray(w, np.float64)
        return float(evaluation.apgr(perf_s, perf_w, score))

    def close(self) -> None:
        self.replayer.dispatcher.close()
        self.service.database.dispose()


def ope_check(
    arm: Arm, truth: Mapping[str, tuple[float, float]]
) -> tuple[offpolicy.Estimate, float]:
    """DR estimate of the final greedy policy's success from the arm's log, and its true
    value on the same logged prompts (``truth``: digest → (strong, weak) success)."""
    log = ope.load_log(arm.service)
    if log is None:
        raise ValidationError("the bandit arm logged no decision")
    q = ope.predicted_success(arm.service, log.gods, log.basins)
    costs = np.array([arm.service.roster.get(g).cost_per_call for g in log.gods])
    pi = ope.greedy_probs(log, q, costs)
    est = offpolicy.estimate(log.actions, log.propensities, log.rewards, pi, q).dr
    col = {g: j for j, g in enumerate(log.gods)}
    verdicts = np.zeros_like(pi)
    for i, digest in enumerate(log.digests):
        s, w = truth[digest]
        verdicts[i, col[arm.strong]] = s
        verdicts[i, col[arm.weak]] = w
    return est, float((pi * verdicts).sum(axis=1).mean())


@dataclass(frozen=True)
class Heldout:
    """Test prompts' basins and both gods' verdicts on them."""

    basins: NDArray[np.float64]
    perf_s: NDArray[np.float64]
    perf_w: NDArray[np.float64]


def open_arm(
    name: str,
    base: Settings,
    data_dir: Path,
    strong: str,
    weak: str,
    *,
    basin_cache: BasinCache | None = None,
    day_hours: int | None = None,
) -> Arm:
    """An arm on a fresh embedded database in ``data_dir`` with a two-god roster.

    ``day_hours``: the simulated clock starts that many hours before a nightly slot (a
    month ago), so the replay is one day of traffic followed by that night's
    consolidation over it; else it starts at 23:30, with the night ahead."""
    roster = write_roster(data_dir / "roster.json", {strong: "strong", weak: "weak"})
    settings = isolated_settings(base, data_dir, roster)
    start = None
    if day_hours is not None:
        nightly = expression_for(JOBS_BY_NAME["nightly_consolidation"], settings)
        start = nightly.slot_at(datetime.now(UTC) - timedelta(days=30))
        start -= timedelta(hours=day_hours)
    return Arm(name, settings, strong, weak, base.seed, basin_cache=basin_cache, start=start)


def replay_arm(
    arm: Arm,
    stream: Stream,
    heldout: Heldout,
    *,
    every: int,
    hours: int,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> ArmResult:
    """Replay ``stream`` through ``arm`` over ``hours`` simulated hours, measuring held-out
    APGR every ``every`` prompts and at the end."""
    started = time.perf_counter()
    per_hour = max(1, len(stream) // hours)
    curve: list[tuple[int, float]] = []
    done = 0
    for start in range(0, len(stream), chunk_size):
        chunk = stream[start : start + chunk_size]
        arm.feed(chunk)
        before, done = done, done + len(chunk)
        hours_passed = done // per_hour - before // per_hour
        if hours_passed:  # more than one when an hour's traffic is smaller than a chunk
            arm.schedule.advance(timedelta(hours=hours_passed))
        if done // every > before // every or done == len(stream):
            curve.append((done, arm.heldout_apgr(heldout.basins, heldout.perf_s, heldout.perf_w)))
        if progress is not None:
            progress(arm.name, done, len(stream))
    return ArmResult(
        arm=arm.name,
        apgr=curve[-1][1],
        success_rate=arm.successes / arm.routed if arm.routed else None,
        strong_share=arm.chosen_strong / arm.routed if arm.routed else None,
        curve=curve,
        seconds=time.perf_counter() - started,
    )


def run_online_bench(
    base: Settings,
    *,
    train: Path,
    test: Path,
    strong: str,
    weak: str,
    every: int = DEFAULT_EVERY,
    hours: int = DEFAULT_HOURS,
    limit: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
    basin_dir: Path | None = DEFAULT_DIR,
    arms: Sequence[str] = ARMS,
) -> OnlineReport:
    """The ``arms`` (default: all four) over the same prompts; ``basin_dir`` keeps the
    prompts' basins between runs (None: encode them again). Arms share only the prompts,
    their order and their basins (each has its own database, random source and clock), so
    an arm run alone gives the figures it gives beside the others."""
    started = time.perf_counter()
    if canonical(strong) == canonical(weak):
        raise ValidationError("--strong and --weak must be two different gods")
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise ValidationError(f"arms must be among {', '.join(ARMS)}; got {list(arms)}")
    stream = load_train(train, strong, weak, base.seed)[:limit]
    test_records = [line.record for line in iter_lines(test) if line.record is not None]
    test_prompts, perf_s, perf_w = paired_verdicts(test_records, strong, weak)
    basins = prompt_basins(test_prompts, basin_dir)
    truth = {
        decisions.prompt_digest(p): (
            _verdict_success(r[canonical(strong)]),
            _verdict_success(r[canonical(weak)]),
        )
        for p, r in stream
    }
    results: dict[str, ArmResult] = {}
    ope_est: offpolicy.Estimate | None = None
    ope_true = float("nan")
    heldout = Heldout(basins, perf_s, perf_w)
    # The encoder is the slow part: encode the training prompts once for all four arms
    # (sorted: every seed's order of the same prompts shares one file).
    prompts = sorted({p for p, _r in stream})
    shared = BasinCache(len(prompts))
    fill_cache(shared, prompts, prompt_basins(prompts, basin_dir))
    for name in [a for a in ARMS if a in arms]:
        with tempfile.TemporaryDirectory(prefix="pantheon-online-") as tmp:
            arm = open_arm(name, base, Path(tmp), strong, weak, basin_cache=shared, day_hours=hours)
            try:
                results[name] = replay_arm(
                    arm,
                    stream,
                    heldout,
                    every=every,
                    hours=hours,
                    chunk_size=chunk_size,
                    progress=progress,
                )
                if name == "bandit":
                    ope_est, ope_true = ope_check(arm, truth)
            finally:
                arm.close()
    bandit_policy = decisions.policy_for(base, EXPLORE["bandit"])
    return OnlineReport(
        prompts=len(stream),
        test_prompts=len(test_prompts),
        strong=strong,
        weak=weak,
        chunk=chunk_size,
        policy={"kind": bandit_policy.kind.value, **bandit_policy.params()},
        arms=results,
        ope_dr=ope_est,
        ope_true=ope_true,
        seconds=time.perf_counter() - started,
    )
