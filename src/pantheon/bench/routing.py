"""Routing quality on real outcomes: RouteLLM's metrics for Pantheon's kernels.

Kernels are trained from one outcome file through the real service (intake, dispatcher,
online steps, the hourly batch and the nightly consolidation, in sync mode on a throwaway
SQLite database); then every prompt of another file is routed between a strong and a
weak god by predicted reward. A prompt's performance is the chosen god's verdict: its
``score`` when the outcome has one, else ``success`` as 1/0. Figures (APGR, CPT(50 %),
CPT(80 %)) come from :mod:`pantheon.learning.evaluation`, beside three references: TF-IDF +
logistic regression fitted on the same training file in the same run (``tfidf_lr``,
:mod:`pantheon.bench.baselines`), random routing (a constant score: APGR 0.5 exactly) and
the oracle (the true verdict difference).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pantheon.bench.baselines import tfidf_lr_scores
from pantheon.config import Settings
from pantheon.datasets.jsonl import JsonLine, iter_lines
from pantheon.datasets.replay import Replayer, build_replayer
from pantheon.errors import ValidationError
from pantheon.learning import evaluation
from pantheon.learning.coordizer import coordize_many
from pantheon.roster import canonical
from pantheon.worker import queues

Progress = Callable[[str, int, int], None]

#: The same-run baseline's row in the report (``pantheon.bench.baselines``).
TFIDF_LR = "tfidf_lr"

#: RouteLLM's best published routers (APGR; CPT(50 %) for MMLU), for the printed comparison.
ROUTELLM_PUBLISHED = {
    "mmlu_apgr": 0.603,
    "mmlu_cpt50": 0.354,
    "gsm8k_apgr": 0.622,
    "mt_bench_apgr": 0.802,
}


@dataclass(frozen=True)
class RouterFigures:
    router: str
    apgr: float
    cpt50: float
    cpt80: float


@dataclass
class RoutingResult:
    """Figures of every router over the same prompts, and the PGR curves behind them."""

    prompts: int
    strong: str
    weak: str
    strong_mean: float
    weak_mean: float
    routers: list[RouterFigures]
    curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def figures(self, router: str) -> RouterFigures:
        return next(r for r in self.routers if r.router == router)

    def performance_at(self, router: str, share: float) -> float:
        """Mean verdict when ``share`` of the prompts go to the strong god by ``router``."""
        c, pgr = self.curves[router]
        i = min(range(len(c)), key=lambda k: abs(c[k] - share))
        return self.weak_mean + pgr[i] * (self.strong_mean - self.weak_mean)

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("curves")
        for row in body["routers"]:
            row["performance_at_50"] = self.performance_at(row["router"], 0.5)
        return body


def verdict(record: Mapping[str, Any]) -> float:
    """An outcome's performance: its graded ``score`` if any, else success as 1.0 / 0.0."""
    score = record.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        return float(score)
    return 1.0 if record.get("success") else 0.0


def paired_verdicts(
    records: Iterable[Mapping[str, Any]], strong: str, weak: str
) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64]]:
    """Prompts answered by both gods, with each god's (mean) verdict on them."""
    wanted = {canonical(strong): 0, canonical(weak): 1}
    sums: dict[str, list[list[float]]] = defaultdict(lambda: [[], []])
    for record in records:
        side = wanted.get(canonical(str(record.get("god_name", ""))))
        if side is not None and isinstance(record.get("prompt"), str):
            sums[record["prompt"]][side].append(verdict(record))
    prompts = [p for p, (s, w) in sums.items() if s and w]
    if not prompts:
        raise ValidationError(f"no prompt has outcomes of both {strong!r} and {weak!r}")
    perf_s = np.array([np.mean(sums[p][0]) for p in prompts], dtype=np.float64)
    perf_w = np.array([np.mean(sums[p][1]) for p in prompts], dtype=np.float64)
    return prompts, perf_s, perf_w


def figures_for(
    name: str, perf_s: NDArray[np.float64], perf_w: NDArray[np.float64], score: NDArray[np.float64]
) -> tuple[RouterFigures, tuple[list[float], list[float]]]:
    c, pgr = evaluation.routing_curve(perf_s, perf_w, score)
    row = RouterFigures(
        router=name,
        apgr=evaluation.apgr(perf_s, perf_w, score),
        cpt50=evaluation.cpt(perf_s, perf_w, score, x=0.5),
        cpt80=evaluation.cpt(perf_s, perf_w, score, x=0.8),
    )
    return row, (c.tolist(), pgr.tolist())


def evaluate_routing(
    perf_s: NDArray[np.float64],
    perf_w: NDArray[np.float64],
    pantheon_score: NDArray[np.float64],
    strong: str,
    weak: str,
    *,
    baseline_scores: Mapping[str, NDArray[np.float64]] | None = None,
) -> RoutingResult:
    """Pantheon's router beside ``baseline_scores``, random (constant) and oracle routing."""
    scores = {
        "pantheon": pantheon_score,
        **(baseline_scores or {}),
        "random": np.zeros_like(perf_s),
        "oracle": perf_s - perf_w,
    }
    result = RoutingResult(
        prompts=int(perf_s.size),
        strong=strong,
        weak=weak,
        strong_mean=float(perf_s.mean()),
        weak_mean=float(perf_w.mean()),
        routers=[],
    )
    for name, score in scores.items():
        row, curve = figures_for(name, perf_s, perf_w, score)
        result.routers.append(row)
        result.curves[name] = curve
    return result


def predicted_rewards(service: Any, god: str, prompts: list[str]) -> NDArray[np.float64]:
    """The live kernel's expected reward for every prompt."""
    kernel = service.get_kernel(god)
    return np.asarray(kernel.predict_many(coordize_many(prompts)).expected_reward, np.float64)


def route_score(service: Any, prompts: list[str], strong: str, weak: str) -> NDArray[np.float64]:
    """Higher means send to the strong god: its predicted reward minus the weak god's."""
    return predicted_rewards(service, strong, prompts) - predicted_rewards(service, weak, prompts)


def verdicts_by_god(
    records: Iterable[Mapping[str, Any]], god: str
) -> tuple[list[str], NDArray[np.bool_]]:
    """``god``'s training prompts and whether each succeeded (a verdict of at least 0.5)."""
    wanted = canonical(god)
    prompts: list[str] = []
    ok: list[bool] = []
    for record in records:
        prompt = record.get("prompt")
        if isinstance(prompt, str) and canonical(str(record.get("god_name", ""))) == wanted:
            prompts.append(prompt)
            ok.append(verdict(record) >= 0.5)
    return prompts, np.array(ok, dtype=bool)


def tfidf_lr_score(
    train_records: Sequence[Mapping[str, Any]], prompts: list[str], strong: str, weak: str
) -> NDArray[np.float64]:
    """The same-run TF-IDF + LR baseline, fitted on the training file alone."""
    strong_prompts, strong_ok = verdicts_by_god(train_records, strong)
    weak_prompts, weak_ok = verdicts_by_god(train_records, weak)
    return tfidf_lr_scores(strong_prompts, strong_ok, weak_prompts, weak_ok, prompts)


def isolated_settings(base: Settings, data_dir: Path, roster_file: Path) -> Settings:
    """Embedded, in-process settings in ``data_dir``, whatever the environment says."""
    values = base.model_dump()
    values.update(
        data_dir=data_dir,
        database_url_raw=f"sqlite:///{(data_dir / 'pantheon.db').resolve()}",
        checkpoint_store="directory",
        checkpoint_dir_raw=None,
        task_mode="sync",
        training_enabled=True,
        embedded_scheduler=False,
        roster_file=roster_file,
        env="development",
    )
    return Settings(**values)


def write_roster(path: Path, gods: Mapping[str, str]) -> Path:
    body = {"gods": [{"name": name, "domain": domain} for name, domain in gods.items()]}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass
class BenchReport:
    train_outcomes: int
    skipped_lines: int
    result: RoutingResult
    training: dict[str, Any]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "train_outcomes": self.train_outcomes,
            "skipped_lines": self.skipped_lines,
            "seconds": round(self.seconds, 2),
            "training": self.training,
            **self.result.to_json(),
            "routellm_published": ROUTELLM_PUBLISHED,
        }


def train_two_gods(
    settings: Settings,
    lines: list[JsonLine],
    progress: Progress | None = None,
) -> tuple[Replayer, dict[str, Any]]:
    """Replay ``lines`` (online steps), then one hourly batch and one nightly consolidation."""
    replayer = build_replayer(settings)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress("online training", done, len(lines))

    report = replayer.replay_lines(lines, on_progress=advance)
    summary: dict[str, Any] = {
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "refused": len(report.bad),
    }
    for step, task in (("hourly batch", queues.HOURLY_BATCH_ALL), ("nightly", queues.NIGHTLY_ALL)):
        if progress is not None:
            progress(step, 0, 1)
        job = replayer.dispatcher.dispatch(task, wait=True)
        summary[step] = (job.result or {}).get("status")
        if progress is not None:
            progress(step, 1, 1)
    return replayer, summary


def run_routing_bench(
    base: Settings,
    *,
    train: Path,
    test: Path,
    strong: str,
    weak: str,
    progress: Progress | None = None,
) -> BenchReport:
    """Train on ``train`` in a throwaway directory, route ``test``'s prompts, score it."""
    started = time.perf_counter()
    gods = {canonical(strong), canonical(weak)}
    if len(gods) != 2:
        raise ValidationError("--strong and --weak must be two different gods")
    lines = [
        line
        for line in iter_lines(train)
        if line.record is None or canonical(str(line.record.get("god_name", ""))) in gods
    ]
    test_records = [line.record for line in iter_lines(test) if line.record is not None]
    prompts, perf_s, perf_w = paired_verdicts(test_records, strong, weak)
    with tempfile.TemporaryDirectory(prefix="pantheon-bench-") as tmp:
        data_dir = Path(tmp)
        roster = write_roster(data_dir / "roster.json", {strong: "strong", weak: "weak"})
        settings = isolated_settings(base, data_dir, roster)
        replayer, training = train_two_gods(settings, lines, progress)
        try:
            score = route_score(replayer.service, prompts, strong, weak)
        finally:
            replayer.dispatcher.close()
            replayer.service.database.dispose()
    train_records = [line.record for line in lines if line.record is not None]
    baseline = {TFIDF_LR: tfidf_lr_score(train_records, prompts, strong, weak)}
    result = evaluate_routing(perf_s, perf_w, score, strong, weak, baseline_scores=baseline)
    return BenchReport(
        train_outcomes=int(training["accepted"]),
        skipped_lines=int(training["refused"]),
        result=result,
        training=training,
        seconds=time.perf_counter() - started,
    )
