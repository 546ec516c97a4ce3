"""The statistics behind the pipeline benchmark's figures."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pytest
from benchmarks.pipeline import finish
from benchmarks.pipeline_phases import Run, coordize_speeds
from benchmarks.pipeline_stats import (
    TARGETS,
    drain_rate,
    latency_summary,
    local_slopes,
    loglog_fit,
    markdown_table,
    percentile,
    ratio,
    results_table,
    rss_growth,
    throughput_from_timestamps,
    verdict,
)

from pantheon.learning.coordizer_kind import CoordizerKind

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 99, 99.9, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    values = list(np.random.default_rng(3).exponential(size=1001))
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_one_to_hundred() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


def test_percentile_edges() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_loglog_fit_recovers_exponent_and_coefficient() -> None:
    sizes = [1e4, 1e5, 1e6]
    fit = loglog_fit(sizes, [3e-5 * n**1.07 for n in sizes])
    assert fit.exponent == pytest.approx(1.07)
    assert fit.coefficient == pytest.approx(3e-5)
    assert fit.r_squared == pytest.approx(1.0)


def test_loglog_fit_of_noisy_points_is_least_squares() -> None:
    sizes = [1e4, 1e5, 1e6]
    times = [0.1, 0.8, 11.0]
    slope = np.polyfit(np.log(sizes), np.log(times), 1)[0]
    fit = loglog_fit(sizes, times)
    assert fit.exponent == pytest.approx(slope)
    assert 0.9 < fit.r_squared < 1.0


def test_local_slopes_show_what_one_fit_hides() -> None:
    # linear below a cap, flat above it
    slopes = local_slopes([1e4, 1e5, 1e6], [0.2, 2.0, 2.0])
    assert slopes == pytest.approx([1.0, 0.0])
    assert math.isnan(local_slopes([1.0, 2.0], [0.0, 1.0])[0])


def test_loglog_fit_needs_two_sizes() -> None:
    with pytest.raises(ValueError, match="two"):
        loglog_fit([10.0], [1.0])
    with pytest.raises(ValueError, match="different"):
        loglog_fit([10.0, 10.0], [1.0, 2.0])


def test_throughput_skips_the_first_stamp_group() -> None:
    # 5 outcomes done at t=0 (before the clock started), then 10 more over 2 s.
    stamps = [100.0] * 5 + [100.0 + 0.2 * i for i in range(1, 11)]
    assert throughput_from_timestamps(stamps) == pytest.approx(10 / 2.0)
    assert math.isnan(throughput_from_timestamps([1.0]))
    assert math.isnan(throughput_from_timestamps([1.0, 1.0]))


def test_drain_rate_from_queue_polls() -> None:
    samples = [(0.0, 1000), (0.5, 1000), (1.0, 900), (2.0, 500), (3.0, 100), (3.2, 0), (3.4, 0)]
    # from the first drop (t=1.0, 900 left) to the first empty poll (t=3.2)
    assert drain_rate(samples) == pytest.approx(900 / 2.2)


def test_drain_rate_when_nothing_drained() -> None:
    assert math.isnan(drain_rate([(0.0, 10), (1.0, 10)]))
    assert math.isnan(drain_rate([(0.0, 10)]))


def test_latency_summary_in_milliseconds() -> None:
    lat = [0.001 * i for i in range(1, 101)]
    summary = latency_summary(lat, seconds=2.0)
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["per_s"] == pytest.approx(50.0)


def test_ratio_never_divides_by_zero() -> None:
    assert ratio(5.0, 2.0) == 2.5
    assert math.isnan(ratio(1.0, 0.0))
    assert math.isnan(ratio(math.nan, 1.0))


def test_verdicts_pass_miss_and_missing() -> None:
    by_key = {t.key: t for t in TARGETS}
    assert verdict(by_key["intake_batch_ratio_copy"], {"intake_batch_ratio_copy": 0.3}) == "PASS"
    assert verdict(by_key["intake_batch_ratio_copy"], {"intake_batch_ratio_copy": 0.2}) == "MISS"
    assert verdict(by_key["freshness_p99_s"], {}) == "n/a"
    assert verdict(by_key["freshness_p99_s"], {"freshness_p99_s": math.nan}) == "n/a"
    assert verdict(by_key["worker_rss_growth"], {"worker_rss_growth": -0.2}) == "MISS"


def test_a_figure_at_less_load_than_offered_is_a_miss() -> None:
    fresh = next(t for t in TARGETS if t.key == "freshness_p99_s")
    served = {"freshness_p99_s": 0.3, "freshness_achieved_ratio": 0.99}
    assert verdict(fresh, served) == "PASS"
    assert verdict(fresh, {**served, "freshness_p99_s": 1.5}) == "MISS"
    # The web took a third of the offered outcomes: a good p99 at that rate is no pass.
    assert verdict(fresh, {**served, "freshness_achieved_ratio": 0.35}) == "MISS (load)"
    assert verdict(fresh, {"freshness_p99_s": 0.3}) == "MISS (load)"


def test_results_table_shows_figure_baseline_and_ratio() -> None:
    results = {"intake_batch_per_s": 20_000.0, "copy_per_s": 60_000.0}
    results["intake_batch_ratio_copy"] = 1 / 3
    rows = {r[0]: r for r in results_table(results)}
    row = rows["intake, batch (outcomes/s)"]
    assert row[1:4] == ["20,000", "60,000", "0.333"]
    assert row[-1] == "PASS"
    table = markdown_table(["a", "b"], [["x|y", "1"]])
    assert table.splitlines()[2] == "| x\\|y | 1 |"


def test_rss_growth_reads_the_web_again_after_its_routes() -> None:
    res = {
        "web_rss_start_mb": 200.0,
        "web_rss_after_mb": 210.0,
        "web_rss_end_mb": 300.0,
        "worker_rss_start_mb": 100.0,
        "worker_rss_after_mb": 90.0,
    }
    growth = rss_growth(res)
    assert growth["web_rss_growth"] == pytest.approx(0.05)
    assert growth["web_rss_after_routes_growth"] == pytest.approx(0.5)
    assert growth["worker_rss_growth"] == pytest.approx(-0.1)
    assert math.isnan(growth["worker_main_rss_growth"])  # not measured: n/a, not 0
    assert math.isnan(rss_growth({"web_rss_start_mb": 200.0})["web_rss_after_routes_growth"])


def test_pipeline_finish_reports_the_web_after_routes() -> None:
    run = Run(web_url="", database_url="", work_dir=Path("."))
    run.results.update({"web_rss_start_mb": 200.0, "web_rss_end_mb": 250.0})
    res = finish(run, argparse.Namespace(), time.time(), [])
    assert res["web_rss_after_routes_growth"] == pytest.approx(0.25)
    row = next(r for r in results_table(res) if "routing phases" in r[0])
    assert row[1] == "+25.0 %"
    assert row[2] == "200"


def test_coordize_speeds_reports_each_representation_from_its_own_process() -> None:
    figures = coordize_speeds(prompts=4)
    for kind in CoordizerKind:
        for key in ("short_per_s", "long_per_s", "short_p99_ms", "rss_mb"):
            assert f"coordize_{kind}_{key}" in figures, (kind, key)
        assert figures[f"coordize_{kind}_short_per_s"] > 0
    # Each kind ran alone: the encoder's session is not in the static process's memory.
    assert figures["coordize_static_rss_mb"] < figures["coordize_encoder_rss_mb"]
