"""Small pieces of the pipeline benchmark: loopback guard, answers, profiles, reports."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.pipeline_baselines import process_rss
from benchmarks.pipeline_load import _answer_fields, check_loopback, merge
from benchmarks.pipeline_phases import fresh_chat_prompts
from benchmarks.pipeline_procs import tree_cpu
from benchmarks.pipeline_profile import buckets, read_collapsed, summarise
from benchmarks.pipeline_report import markdown, write_json

from pantheon.learning.coordizer import _known_basins, prompt_key

pytestmark = pytest.mark.unit


def test_load_goes_to_loopback_only() -> None:
    check_loopback("http://127.0.0.1:8000/api/outcomes")
    check_loopback("http://localhost:1/x")
    with pytest.raises(ValueError, match="loopback"):
        check_loopback("http://example.com/api/outcomes")


def test_answer_fields_of_single_batch_and_error() -> None:
    single = json.dumps({"outcome_id": 7, "task_id": "t", "mode": "celery"}).encode()
    batch = json.dumps({"accepted": 998, "duplicates": 2, "outcome_ids": []}).encode()
    assert _answer_fields(202, single) == (7, 1)
    assert _answer_fields(202, batch) == (None, 1000)
    assert _answer_fields(422, b'{"error": "validation"}') == (None, 0)
    assert _answer_fields(202, b"not json") == (None, 0)


def test_merge_spans_every_process() -> None:
    a = {"records": [[1.0, 2.0, 202, 1, 1, 1.0]], "errors": []}
    b = {"records": [[0.5, 3.0, 500, None, 0, 2.5]], "errors": ["HTTP 500"]}
    merged = merge([a, b])
    assert (merged["began"], merged["ended"]) == (0.5, 3.0)
    assert len(merged["records"]) == 2
    assert merged["errors"] == ["HTTP 500"]


def test_profile_summary_own_and_inside_time(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("main;ingest;coordize 30\nmain;ingest;insert 10\nmain;idle 60\n")
    summary = summarise(read_collapsed(path), top=3)
    assert summary["own"][0] == ("idle", 0.6)
    assert dict(summary["inside"])["ingest"] == pytest.approx(0.4)
    only = summarise(read_collapsed(path), match="ingest")
    assert dict(only["own"])["coordize"] == pytest.approx(0.75)


def test_worker_profile_buckets_first_rule_wins() -> None:
    stacks = [
        (["asynloop", "_create_worker_process", "Popen._launch", "run_task", "q"], 6),
        (["asynloop", "_create_worker_process", "Popen._launch", "ServiceHolder.get",
          "_find_and_load"], 3),
        (["asynloop", "_create_worker_process", "gc.collect"], 1),
    ]  # fmt: skip
    shares = dict(buckets(stacks))
    assert shares["child: task body"] == pytest.approx(0.6)
    assert shares["child: imports inside a task (lazy import after fork)"] == pytest.approx(0.3)
    assert shares["parent: forking a new child (gc.collect + fork)"] == pytest.approx(0.1)


def test_results_json_has_no_nan_and_markdown_has_the_table(tmp_path: Path) -> None:
    results = {"freshness_p99_s": math.nan, "route_c4_p99_ms": 12.5, "series": [1.0, math.inf]}
    write_json(tmp_path / "r.json", results)
    loaded = json.loads((tmp_path / "r.json").read_text())
    assert loaded == {"freshness_p99_s": None, "route_c4_p99_ms": 12.5, "series": [1.0, None]}
    text = markdown(results, ["a note"], ["context line"])
    assert "| /api/route p99 at 4 clients (ms), prompts whose basins ship | 12.5 |" in text
    assert "PASS" in text
    assert "- a note" in text


def test_process_rss_counts_children_too() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        alone = process_rss(os.getpid(), children=False)
        with_children = process_rss(os.getpid())
        assert alone > 0
        assert with_children > alone
    finally:
        child.kill()
        child.wait()


def test_a_child_that_exits_still_counts_in_its_trees_cpu() -> None:
    # A Celery pool child replaced mid-phase took its CPU time with it when only live
    # processes were summed; the root's reaped-children time keeps it in the tree.
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    before = sum(tree_cpu(os.getpid()).values())
    subprocess.run([sys.executable, "-c", burn], check=True)  # runs, exits, is reaped
    spent = sum(tree_cpu(os.getpid()).values()) - before
    assert spent >= 0.3


def test_fresh_chat_prompts_are_distinct_short_and_never_shipped() -> None:
    """The fresh-route phase must encode every prompt: no repeat (the web's cache would
    answer it) and none whose basin ships with the package."""
    prompts = fresh_chat_prompts(3_000)
    assert len(set(prompts)) == 3_000
    shipped = _known_basins()
    assert shipped, "the package ships the curriculum's basins"
    assert not [p for p in prompts if prompt_key(p) in shipped]
    mean_chars = sum(map(len, prompts)) / len(prompts)
    assert 30 < mean_chars < 150  # a chat request, not a pasted document
