"""The demo's HTML report: one self-contained file (plots are base64 PNGs inside it)."""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from pantheon import __version__
from pantheon.demo.run import DemoResult

COLOURS = {
    "pantheon": "#2f6fdf",
    "tfidf_lr": "#d9822b",
    "random": "#999999",
    "oracle": "#2a9d5c",
}
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1c2330;padding:0 1rem}
h1{margin-bottom:.2rem}.sub{color:#5b6475;margin-top:0}
table{border-collapse:collapse;margin:1rem 0}td,th{padding:.35rem .8rem;
border-bottom:1px solid #e3e6ec;text-align:right}th:first-child,td:first-child{text-align:left}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1.2rem}img{width:100%;
border:1px solid #e3e6ec;border-radius:6px}footer{color:#5b6475;font-size:.85rem;margin-top:2rem}
"""


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_pgr(result: DemoResult) -> str:
    fig, ax = plt.subplots(figsize=(5.4, 4))
    for name, (c, pgr) in result.routing.curves.items():
        apgr = result.routing.figures(name).apgr
        ax.plot(c, pgr, label=f"{name} (APGR {apgr:.3f})", color=COLOURS.get(name))
    ax.axhline(1.0, color="#cccccc", lw=0.8)
    ax.set_xlabel(f"share of calls to the strong god ({result.strong})")
    ax.set_ylabel("performance gap recovered")
    ax.set_title("Routing held-out prompts")
    ax.legend(loc="lower right")
    return _png(fig)


#: Every time axis of the report is the demo's simulated clock, shown as UTC hours.
SIMULATED_AXIS = "simulated time (UTC)"


def _origin(result: DemoResult) -> datetime:
    return result.steps[0].start if result.steps else datetime(2000, 1, 1, tzinfo=UTC)


def _hours(at: datetime, origin: datetime) -> float:
    return (at - origin).total_seconds() / 3600.0


def _time_axis(ax: Any, origin: datetime) -> None:
    """x values are hours after ``origin``; the ticks show the simulated clock."""
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _pos: f"{origin + timedelta(hours=float(x)):%H:%M}")
    )
    ax.set_xlabel(SIMULATED_AXIS)


def simulated_times(result: DemoResult) -> dict[int, datetime]:
    """The simulated time of every training-history row: the time of the step that wrote
    it; rows of a replayed hour are spread evenly over that hour, in the order written."""
    times: dict[int, datetime] = {}
    ids = sorted(int(row["id"]) for row in result.history)
    previous = 0
    for step in result.steps:
        written = [i for i in ids if previous < i <= step.history_upto]
        span = step.end - step.start
        for n, row_id in enumerate(written):
            times[row_id] = step.start + span * ((n + 0.5) / len(written))
        previous = max(previous, step.history_upto)
    return times


def plot_curve(result: DemoResult) -> str:
    fig, ax = plt.subplots(figsize=(5.4, 4))
    origin = _origin(result)
    xs = [_hours(p.at, origin) for p in result.curve]
    for god in result.curve[0].accuracy if result.curve else []:
        accuracy = [p.accuracy[god] for p in result.curve]
        ax.plot(xs, accuracy, marker="o", label=f"accuracy {short(god)}")
    ax.plot(xs, [p.apgr for p in result.curve], marker="s", color="#2f6fdf", label="APGR")
    for x, point in zip(xs, result.curve, strict=True):
        ax.annotate(
            f"{point.outcomes}",
            (x, point.apgr),
            fontsize=7,
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
        )
    _time_axis(ax, origin)
    ax.set_xlabel(f"{SIMULATED_AXIS}; labels: outcomes replayed")
    ax.set_ylabel("held-out figure")
    ax.set_title("Learning, hour by hour")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def plot_live(result: DemoResult) -> str:
    """Held-out APGR by prompts seen: full information vs learning from own choices."""
    fig, ax = plt.subplots(figsize=(5.4, 4))
    ax.plot(
        [p.outcomes / 2 for p in result.curve],
        [p.apgr for p in result.curve],
        marker="s",
        label="full information (both verdicts)",
    )
    if result.live is not None:
        xs, ys = zip(*result.live.curve, strict=True)
        ax.plot(xs, ys, marker="o", label="own choices only (bandit feedback)")
    ax.axhline(0.5, color="#999", linestyle=":", label="random routing")
    ax.set_xlabel("training prompts seen")
    ax.set_ylabel("held-out APGR")
    ax.set_title("Learning from its own decisions")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def live_section(result: DemoResult) -> str:
    live = result.live
    if live is None:
        return ""
    share = f"{live.strong_share:.0%}" if live.strong_share is not None else "–"
    success = f"{live.success_rate:.3f}" if live.success_rate is not None else "–"
    return f"""<h2>Learning from its own decisions</h2>
<p>The same training prompts as live traffic on a second database: each prompt routed by
the exploring policy (softmax over predicted success with a uniform floor; the decision
and its propensity recorded), and only the chosen god's verdict posted back with the
decision id. It sent {share} of the prompts to {html.escape(result.strong)}, with a mean
verdict of {success} while learning; held-out APGR at the end {live.apgr:.3f}, against
{result.curve[-1].apgr if result.curve else float("nan"):.3f} with both verdicts of every
prompt.</p>
<div class="grid"><img alt="plot" src="data:image/png;base64,{plot_live(result)}"></div>
"""


def short(name: str) -> str:
    """``mistralai/Mixtral-8x7B-Instruct-v0.1`` → ``Mixtral-8x7B-Instruct-v0.1``."""
    return name.rsplit("/", 1)[-1]


def plot_loss(result: DemoResult) -> str:
    """Loss of every step batch of the gods' own kernels, at the simulated time it ran."""
    fig, ax = plt.subplots(figsize=(5.4, 4))
    times = simulated_times(result)
    origin = _origin(result)
    series: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for row in result.history:
        at = times.get(int(row["id"]))
        if at is None or row.get("loss") is None or str(row["kernel_name"]).endswith("_shadow"):
            continue
        series[(row["kernel_name"], row["timescale"])].append(
            (_hours(at, origin), float(row["loss"]))
        )
    for (kernel, timescale), points in sorted(series.items()):
        xs, ys = zip(*points, strict=True)
        style = "-" if timescale == "online" else "o"
        ax.plot(xs, ys, style, ms=5, lw=1, label=f"{short(kernel)}: {timescale}")
    _time_axis(ax, origin)
    ax.set_ylabel("log loss")
    ax.set_title("Training loss")
    ax.legend(fontsize=7)
    return _png(fig)


def plot_predictions(result: DemoResult) -> str:
    fig, axes = plt.subplots(1, len(result.predictions), figsize=(5.4, 4), sharey=True)
    axes_list = list(axes) if len(result.predictions) > 1 else [axes]
    for ax, (god, (p, y)) in zip(axes_list, result.predictions.items(), strict=True):
        bins = [i / 20 for i in range(21)]
        ax.hist(p[y], bins=bins, alpha=0.6, label="answered right", color="#2a9d5c")
        ax.hist(p[~y], bins=bins, alpha=0.6, label="answered wrong", color="#d1495b")
        ax.set_title(short(god), fontsize=9)
        ax.set_xlabel("predicted chance of success")
    axes_list[0].set_ylabel("held-out outcomes")
    axes_list[0].legend(fontsize=7)
    return _png(fig)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def god_rows(result: DemoResult) -> list[list[str]]:
    return [
        [
            short(g.god),
            str(g.outcomes),
            str(g.steps),
            str(g.shadow_steps),
            "-" if g.loss is None else f"{g.loss:.3f}",
            f"{g.accuracy:.3f}",
            f"{g.majority:.3f}",
        ]
        for g in result.gods
    ]


GOD_HEADERS = [
    "god",
    "outcomes",
    "steps",
    "shadow steps",
    "loss",
    "accuracy",
    "majority baseline",
]
ROUTING_HEADERS = ["router", "APGR", "CPT(50%)", "CPT(80%)", "performance at 50% strong"]


def routing_rows(result: DemoResult) -> list[list[str]]:
    """Each router, then the two fixed policies (their share of strong calls is fixed)."""
    routing = result.routing
    rows = [
        [
            r.router,
            f"{r.apgr:.3f}",
            f"{r.cpt50:.1%}",
            f"{r.cpt80:.1%}",
            f"{routing.performance_at(r.router, 0.5):.3f}",
        ]
        for r in routing.routers
    ]
    rows.append(["always-strong", "-", "100.0%", "100.0%", f"{routing.strong_mean:.3f} (all)"])
    rows.append(["always-weak", "-", "-", "-", f"{routing.weak_mean:.3f} (none)"])
    return rows


TEMPORARY_NOTE = (
    " (temporary: removed after the run; keep it with <code>--keep</code> or "
    "<code>--data-dir</code>)"
)


def render(result: DemoResult, kept: bool = True) -> str:
    plots = [plot_pgr(result), plot_curve(result), plot_loss(result), plot_predictions(result)]
    images = "".join(f'<img alt="plot" src="data:image/png;base64,{p}">' for p in plots)
    steps = _table(
        ["step", "seconds", "result"],
        [[s.name, f"{s.seconds:.2f}", s.summary] for s in result.steps],
    )
    routing = result.routing
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pantheon demo report</title>
<style>{STYLE}</style></head><body>
<h1>Pantheon demo</h1>
<p class="sub">{result.train_outcomes} real outcomes replayed, {result.heldout_outcomes}
held out (prompts never trained on) · {when} · pantheon {__version__} · coordizer
{html.escape(result.coordizer_version)} · {result.seconds:.1f} s</p>
<h2>Gods</h2>
{_table(GOD_HEADERS, god_rows(result))}
<h2>Routing held-out prompts</h2>
<p>{routing.prompts} prompts routed between {html.escape(result.strong)} (strong, mean
verdict {routing.strong_mean:.3f}) and {html.escape(result.weak)} (weak,
{routing.weak_mean:.3f}) by predicted reward. APGR: area under the performance gap
recovered over the share of strong calls (random = 0.5); CPT(x): the share of strong calls
needed to recover x of the gap. <code>tfidf_lr</code>: TF-IDF + logistic regression fitted
on the replayed prompts in the same run, the simple router to beat.</p>
{_table(ROUTING_HEADERS, routing_rows(result))}
<div class="grid">{images}</div>
{live_section(result)}<h2>Steps</h2>
{steps}
<p>{result.checkpoints} checkpoints kept after cleanup. Data directory:
<code>{html.escape(str(result.data_dir))}</code>{"" if kept else TEMPORARY_NOTE}</p>
<footer>Outcomes: real answers of two LLMs to MMLU and GSM8K prompts with their verdicts,
from lm-sys/RouteLLM (commit 0b64fdaf, Apache License 2.0); see
<code>pantheon/data/sample/README.md</code> for what was selected and converted.</footer>
</body></html>
"""


def write_report(result: DemoResult, path: Path, kept: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, kept), encoding="utf-8")
    return path
