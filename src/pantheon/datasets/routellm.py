"""RouteLLM's evaluation data as Pantheon outcomes (god = the model that answered).

Two formats from the public ``lm-sys/RouteLLM`` repository (``routellm/evals/``):

* per-benchmark CSVs (MMLU, GSM8K): a ``prompt`` column, one ``True``/``False`` column per
  model (was that model's answer right), and optionally ``<model>_response`` columns with
  the answer text. A verdict becomes ``success`` and ``score`` 1.0 / 0.0.
* MT-Bench judgement JSON Lines: ``question_id``, ``model``, ``user_prompt`` (the judge's
  prompt, which embeds the question and the answer), ``score`` 1-10 from the judge and
  ``turn``. A score ``s`` becomes ``score = (s - 1) / 9`` and ``success = s >= threshold``
  (default 8: the judge's "good" band; MT-Bench's mean is about 8 for strong models, so
  success means better than a typical answer). Rows the judge could not score (-1) are
  skipped.

Every outcome has a deterministic ``outcome_key`` (sha256 of file name, row and model), so
importing or replaying the same file twice stores each outcome once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pantheon.datasets.jsonl import is_blank
from pantheon.errors import ValidationError
from pantheon.text import text_problem

RESPONSE_SUFFIX = "_response"
SOURCE_TYPE = "replay"
DEFAULT_SUCCESS_THRESHOLD = 8.0
_VERDICTS = {"true": True, "false": False, "1": True, "0": False}

# FastChat's single-answer judge templates (turn 1, then the two-turn conversation).
_TURN1_RE = re.compile(
    r"\[Question\]\s*(?P<prompt>.*?)\s*"
    r"(?:\[The Start of Reference Answer\].*?\[The End of Reference Answer\]\s*)?"
    r"\[The Start of Assistant's Answer\]\s*(?P<response>.*?)\s*"
    r"\[The End of Assistant's Answer\]",
    re.DOTALL,
)
_CONVERSATION_RE = re.compile(
    r"<\|The Start of Assistant A's Conversation with User\|>(?P<body>.*?)"
    r"<\|The End of Assistant A's Conversation with User\|>",
    re.DOTALL,
)
_TURN_RE = re.compile(
    r"###\s*(User|Assistant A):\s*(.*?)(?=###\s*(?:User|Assistant A):|\Z)", re.DOTALL
)


@dataclass
class ImportReport:
    """What a conversion read, wrote and skipped (with reasons)."""

    files: int = 0
    rows: int = 0
    outcomes: int = 0
    skipped: list[str] = field(default_factory=list)


def _text_problem(*texts: str) -> str | None:
    """The text rule of the intake (:mod:`pantheon.text`), applied before writing."""
    for text in texts:
        problem = text_problem(text)
        if problem:
            return problem
    return None


def outcome_key(*parts: object) -> str:
    """The deterministic key of one imported outcome."""
    text = "\x1f".join(str(p) for p in ("routellm", *parts))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_columns(fieldnames: Sequence[str]) -> list[str]:
    """The verdict columns of a benchmark CSV: everything but ``prompt`` and responses."""
    return [name for name in fieldnames if name != "prompt" and not name.endswith(RESPONSE_SUFFIX)]


def read_benchmark_csv(path: Path, report: ImportReport | None = None) -> Iterator[dict[str, Any]]:
    """One outcome per (row, model) of a RouteLLM benchmark CSV."""
    report = report if report is not None else ImportReport()
    path = Path(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # professional_law prompts are long
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            yield from _read_csv(path, handle, report)
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise ValidationError(f"{path}: not a readable CSV file ({exc})") from None


def _read_csv(path: Path, handle: Any, report: ImportReport) -> Iterator[dict[str, Any]]:
    """The rows of an open benchmark CSV as outcomes (see :func:`read_benchmark_csv`)."""
    reader = csv.DictReader(handle)
    fieldnames = list(reader.fieldnames or [])
    if "prompt" not in fieldnames:
        raise ValidationError(f"{path}: no 'prompt' column (columns: {fieldnames})")
    models = model_columns(fieldnames)
    if not models:
        raise ValidationError(f"{path}: no model verdict columns")
    report.files += 1
    # Row numbers count data rows from 1, the header excluded.
    for row_number, row in enumerate(reader, start=1):
        report.rows += 1
        prompt = row.get("prompt") or ""
        if not prompt.strip():
            report.skipped.append(f"{path.name}:{row_number}: empty prompt")
            continue
        problem = _text_problem(prompt, *(str(v) for v in row.values() if v is not None))
        if problem:
            report.skipped.append(f"{path.name}:{row_number}: {problem}")
            continue
        for model in models:
            verdict = _VERDICTS.get((row.get(model) or "").strip().lower())
            if verdict is None:
                report.skipped.append(
                    f"{path.name}:{row_number}: {model!r} verdict {row.get(model)!r}"
                )
                continue
            report.outcomes += 1
            yield {
                "god_name": model,
                "prompt": prompt,
                "response": row.get(model + RESPONSE_SUFFIX) or "",
                "success": verdict,
                "score": 1.0 if verdict else 0.0,
                "outcome_key": outcome_key(path.name, row_number, model),
                "source_type": SOURCE_TYPE,
                "source_id": f"routellm:{path.name}:{row_number}",
            }


def split_judge_prompt(user_prompt: str) -> tuple[str, str]:
    """(question, answer) out of an MT-Bench judge prompt; unknown layouts keep it whole."""
    match = _TURN1_RE.search(user_prompt)
    if match:
        return match["prompt"], match["response"]
    conversation = _CONVERSATION_RE.search(user_prompt)
    if conversation:
        turns = _TURN_RE.findall(conversation["body"])
        users = [text.strip() for who, text in turns if who == "User"]
        answers = [text.strip() for who, text in turns if who != "User"]
        if users:
            return "\n\n".join(users), answers[-1] if answers else ""
    return user_prompt, ""


def read_mt_bench_jsonl(
    path: Path,
    report: ImportReport | None = None,
    success_threshold: float = DEFAULT_SUCCESS_THRESHOLD,
) -> Iterator[dict[str, Any]]:
    """One outcome per scored judgement line of an MT-Bench judgement file."""
    report = report if report is not None else ImportReport()
    path = Path(path)
    report.files += 1
    with open(path, "rb") as handle:
        for line_number, raw_bytes in enumerate(handle, start=1):
            if is_blank(raw_bytes):
                continue
            report.rows += 1
            where = f"{path.name}:{line_number}"
            try:
                item = json.loads(raw_bytes.decode("utf-8"))
                model = str(item["model"]).strip()
                raw_score = float(item["score"])
                question_id = item["question_id"]
                turn = int(item.get("turn", 1))
                prompt, response = split_judge_prompt(str(item["user_prompt"]))
            except (ValueError, KeyError, TypeError, RecursionError, OverflowError) as exc:
                report.skipped.append(f"{where}: unreadable judgement ({type(exc).__name__})")
                continue
            problem = _text_problem(model, prompt, response, str(question_id))
            if problem:
                report.skipped.append(f"{where}: {problem}")
                continue
            if not 1.0 <= raw_score <= 10.0:
                report.skipped.append(f"{where}: score {raw_score} outside 1-10 (unjudged)")
                continue
            if not prompt.strip() or not model:
                report.skipped.append(f"{where}: empty prompt or model")
                continue
            report.outcomes += 1
            yield {
                "god_name": model,
                "prompt": prompt,
                "response": response,
                "success": raw_score >= success_threshold,
                "score": round((raw_score - 1.0) / 9.0, 6),
                "outcome_key": outcome_key(path.name, question_id, turn, model),
                "source_type": SOURCE_TYPE,
                "source_id": f"routellm:{path.name}:q{question_id}:t{turn}",
            }


def read_any(
    path: Path,
    report: ImportReport | None = None,
    success_threshold: float = DEFAULT_SUCCESS_THRESHOLD,
) -> Iterator[dict[str, Any]]:
    """Outcomes of one file, by its format: ``.csv`` or MT-Bench ``.jsonl``/``.json``."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return read_benchmark_csv(path, report)
    if path.suffix.lower() in {".jsonl", ".json"}:
        return read_mt_bench_jsonl(path, report, success_threshold)
    raise ValidationError(f"{path}: unknown RouteLLM format (expected .csv or .jsonl)")


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a directory stands for its ``.csv``/``.jsonl`` files, sorted."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix.lower() in {".csv", ".jsonl", ".json"}
            )
            if not found:
                raise ValidationError(f"{path}: no .csv or .jsonl files")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise ValidationError(f"{path}: no such file or directory")
    return out


def convert(
    paths: Iterable[Path],
    report: ImportReport | None = None,
    success_threshold: float = DEFAULT_SUCCESS_THRESHOLD,
) -> Iterator[dict[str, Any]]:
    """Every outcome of every file (directories expanded), in file order."""
    for path in expand_paths(paths):
        yield from read_any(path, report, success_threshold)


def prompt_rank(prompt: str, seed: int) -> str:
    """A seeded, platform-independent sort key for a prompt (never the built-in hash)."""
    return hashlib.sha256(f"{seed}\x1f{prompt}".encode()).hexdigest()


def split_by_prompt(
    outcomes: Iterable[dict[str, Any]], train_fraction: float, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split by prompt: every model's outcome for one prompt lands on the same side.

    Prompts are ordered by a seeded sha256 and the first ``train_fraction`` of them go to
    the training side, so the split does not depend on file order.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValidationError(f"split fraction must be between 0 and 1, got {train_fraction}")
    items = list(outcomes)
    prompts = sorted({o["prompt"] for o in items}, key=lambda p: prompt_rank(p, seed))
    cut = round(len(prompts) * train_fraction)
    train_prompts = set(prompts[:cut])
    train = [o for o in items if o["prompt"] in train_prompts]
    test = [o for o in items if o["prompt"] not in train_prompts]
    return train, test
