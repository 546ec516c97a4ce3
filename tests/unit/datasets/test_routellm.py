"""The RouteLLM converters on small files written here, in the published formats."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pantheon.cli import main
from pantheon.datasets.jsonl import iter_lines, write_lines
from pantheon.datasets.routellm import (
    ImportReport,
    convert,
    outcome_key,
    read_benchmark_csv,
    read_mt_bench_jsonl,
    split_by_prompt,
    split_judge_prompt,
)
from pantheon.errors import ValidationError

pytestmark = pytest.mark.unit

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def mmlu_csv(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "mmlu_tiny.csv",
        ["prompt", WEAK, STRONG],
        [
            ["What is 2+2?\nA. 3\nB. 4\nAnswer:", "True", "True"],
            ['Multi\nline, with "quotes"\nAnswer:', "False", "True"],
            ["", "True", "False"],  # empty prompt: skipped
            ["Which is a noble gas?\nA. Neon\nAnswer:", "maybe", "FALSE"],  # one bad cell
        ],
    )


@pytest.fixture
def gsm8k_csv(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "gsm8k_tiny.csv",
        ["prompt", WEAK, STRONG, WEAK + "_response", STRONG + "_response"],
        [["Tom has 3 apples and eats one. How many left?", "False", "True", "3", "2 apples"]],
    )


def judgement(qid: int, model: str, score: float, turn: int = 1, prompt: str = "") -> str:
    if not prompt:
        if turn == 1:
            prompt = (
                "[Instruction]\nPlease act as an impartial judge ...\n\n"
                f"[Question]\nWrite a haiku about question {qid}.\n\n"
                "[The Start of Assistant's Answer]\nAn old silent pond\n"
                "[The End of Assistant's Answer]"
            )
        else:
            prompt = (
                "<|The Start of Assistant A's Conversation with User|>\n\n"
                f"### User:\nName a prime below {qid}.\n\n### Assistant A:\n2\n\n"
                "### User:\nAnd one above it?\n\n### Assistant A:\n3\n\n"
                "<|The End of Assistant A's Conversation with User|>"
            )
    return json.dumps(
        {
            "question_id": qid,
            "model": model,
            "judge": ["gpt-4", "single-v1"],
            "user_prompt": prompt,
            "judgment": "Rating: [[x]]",
            "score": score,
            "turn": turn,
            "tstamp": 1.0,
        }
    )


@pytest.fixture
def mt_bench_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "gpt-4_single.jsonl"
    lines = [
        judgement(81, STRONG, 9),
        judgement(81, WEAK, 7),
        judgement(81, WEAK, 8, turn=2),
        judgement(82, STRONG, 1),
        judgement(82, WEAK, -1),  # the judge failed to score: skipped
        "{not json",
        judgement(83, STRONG, 10, prompt="a prompt in no known layout"),
        "",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_gives_one_outcome_per_row_and_model(mmlu_csv: Path) -> None:
    report = ImportReport()
    outcomes = list(read_benchmark_csv(mmlu_csv, report))
    assert [(o["god_name"], o["success"]) for o in outcomes] == [
        (WEAK, True),
        (STRONG, True),
        (WEAK, False),
        (STRONG, True),
        (STRONG, False),
    ]
    assert [o["score"] for o in outcomes] == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert outcomes[2]["prompt"] == 'Multi\nline, with "quotes"\nAnswer:'
    assert all(o["response"] == "" for o in outcomes)
    assert all(o["source_type"] == "replay" for o in outcomes)
    assert outcomes[0]["source_id"] == "routellm:mmlu_tiny.csv:1"
    assert outcomes[-1]["source_id"] == "routellm:mmlu_tiny.csv:4"
    assert report.rows == 4
    assert report.outcomes == 5
    assert len(report.skipped) == 2
    assert any("empty prompt" in s for s in report.skipped)
    assert any("'maybe'" in s for s in report.skipped)


def test_outcome_keys_are_deterministic_and_distinct(mmlu_csv: Path) -> None:
    first = [o["outcome_key"] for o in read_benchmark_csv(mmlu_csv)]
    second = [o["outcome_key"] for o in read_benchmark_csv(mmlu_csv)]
    assert first == second
    assert len(set(first)) == len(first)
    assert first[0] == outcome_key("mmlu_tiny.csv", 1, WEAK)
    assert all(len(k) == 64 for k in first)


def test_response_columns_are_used(gsm8k_csv: Path) -> None:
    outcomes = {o["god_name"]: o for o in read_benchmark_csv(gsm8k_csv)}
    assert set(outcomes) == {WEAK, STRONG}
    assert outcomes[STRONG]["response"] == "2 apples"
    assert outcomes[STRONG]["success"] is True
    assert outcomes[WEAK]["response"] == "3"
    assert outcomes[WEAK]["success"] is False


def test_csv_without_prompt_column_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", ["question", STRONG], [["q", "True"]])
    with pytest.raises(ValidationError, match="prompt"):
        list(read_benchmark_csv(path))


def test_mt_bench_scores_map_to_score_and_success(mt_bench_jsonl: Path) -> None:
    report = ImportReport()
    outcomes = list(read_mt_bench_jsonl(mt_bench_jsonl, report))
    assert [(o["god_name"], o["score"], o["success"]) for o in outcomes] == [
        (STRONG, pytest.approx(8 / 9), True),
        (WEAK, pytest.approx(6 / 9), False),
        (WEAK, pytest.approx(7 / 9), True),
        (STRONG, 0.0, False),
        (STRONG, 1.0, True),
    ]
    assert outcomes[0]["prompt"] == "Write a haiku about question 81."
    assert outcomes[0]["response"] == "An old silent pond"
    assert outcomes[2]["prompt"] == "Name a prime below 81.\n\nAnd one above it?"
    assert outcomes[2]["response"] == "3"
    assert outcomes[2]["source_id"] == "routellm:gpt-4_single.jsonl:q81:t2"
    assert outcomes[-1]["prompt"] == "a prompt in no known layout"
    assert len({o["outcome_key"] for o in outcomes}) == len(outcomes)
    assert report.rows == 7
    assert len(report.skipped) == 2


def test_mt_bench_threshold_is_a_parameter(mt_bench_jsonl: Path) -> None:
    strict = [o["success"] for o in read_mt_bench_jsonl(mt_bench_jsonl, success_threshold=10)]
    assert strict == [False, False, False, False, True]


def test_split_judge_prompt_keeps_unknown_layouts_whole() -> None:
    assert split_judge_prompt("just text") == ("just text", "")


def test_split_judge_prompt_drops_the_reference_answer() -> None:
    math = (
        "[Instruction]\nJudge the answer against the reference.\n\n[Question]\nWhat is 3*4?"
        "\n\n[The Start of Reference Answer]\n12\n[The End of Reference Answer]\n\n"
        "[The Start of Assistant's Answer]\nIt is 12.\n[The End of Assistant's Answer]"
    )
    assert split_judge_prompt(math) == ("What is 3*4?", "It is 12.")
    multi = (
        "<|The Start of Reference Answer|>\n\n### User:\nq1\n\n### Reference answer:\nr1"
        "\n\n<|The End of Reference Answer|>\n\n\n"
        "<|The Start of Assistant A's Conversation with User|>\n\n### User:\nq1\n\n"
        "### Assistant A:\na1\n\n### User:\nq2\n\n### Assistant A:\na2\n\n"
        "<|The End of Assistant A's Conversation with User|>"
    )
    assert split_judge_prompt(multi) == ("q1\n\nq2", "a2")


def test_convert_expands_directories_and_picks_the_format(
    mmlu_csv: Path, gsm8k_csv: Path, mt_bench_jsonl: Path
) -> None:
    outcomes = list(convert([mmlu_csv.parent]))
    assert len(outcomes) == 5 + 2 + 5
    with pytest.raises(ValidationError, match="no such file"):
        list(convert([mmlu_csv.parent / "missing.csv"]))


def test_split_keeps_a_prompts_models_together(mmlu_csv: Path, gsm8k_csv: Path) -> None:
    outcomes = list(read_benchmark_csv(mmlu_csv)) + list(read_benchmark_csv(gsm8k_csv))
    train, test = split_by_prompt(outcomes, 0.5, seed=3)
    assert len(train) + len(test) == len(outcomes)
    train_prompts = {o["prompt"] for o in train}
    assert train_prompts.isdisjoint({o["prompt"] for o in test})
    assert len(train_prompts) == 2  # half of four prompts
    again, _ = split_by_prompt(list(reversed(outcomes)), 0.5, seed=3)
    assert {o["outcome_key"] for o in again} == {o["outcome_key"] for o in train}
    with pytest.raises(ValidationError):
        split_by_prompt(outcomes, 1.0)


def test_jsonl_round_trip_plain_and_gzip(tmp_path: Path, mmlu_csv: Path) -> None:
    outcomes = list(read_benchmark_csv(mmlu_csv))
    for name in ("out.jsonl", "out.jsonl.gz"):
        assert write_lines(outcomes, tmp_path / name) == len(outcomes)
        lines = list(iter_lines(tmp_path / name))
        assert [line.record for line in lines] == outcomes
        assert [line.number for line in lines] == list(range(1, len(outcomes) + 1))


def test_jsonl_reports_bad_lines_with_numbers(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"a": 1}\n\nnot json\n[1, 2]\n{"b": 2}\n', encoding="utf-8")
    lines = list(iter_lines(path))
    assert [(line.number, line.record is None) for line in lines] == [
        (1, False),
        (3, True),
        (4, True),
        (5, False),
    ]
    assert "JSON" in (lines[1].error or "")
    assert "object" in (lines[2].error or "")


def test_cli_import_writes_and_splits(mmlu_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl.gz"
    assert main(["import", "routellm", str(mmlu_csv), "--out", str(out)]) == 0
    assert len(list(iter_lines(out))) == 5
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    args = ["import", "routellm", str(mmlu_csv), "--out", str(train), "--split", "0.5"]
    assert main(args) == 1  # --split needs --test-out
    assert main([*args, "--test-out", str(test), "--seed", "7"]) == 0
    assert len(list(iter_lines(train))) + len(list(iter_lines(test))) == 5
