"""Hostile files and settings through the real ``pantheon`` entry point (issue 14, items
3, 10 and 11): one clear line on stderr, a non-zero status, never a traceback, and the
good lines of a replayed file stored on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pantheon.cli import main
from pantheon.config import Settings
from pantheon.store.db import Database
from pantheon.training import queries
from pantheon.training.service import TrainingService

pytestmark = pytest.mark.integration


def good(i: int) -> dict[str, Any]:
    return {
        "god_name": "zeus",
        "prompt": f"question number {i}",
        "response": "an answer",
        "success": True,
        "outcome_key": f"good-{i}",
    }


def write_jsonl(path: Path, lines: list[str | bytes]) -> Path:
    with path.open("wb") as fh:
        for line in lines:
            fh.write((line.encode() if isinstance(line, str) else line) + b"\n")
    return path


def env_for(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("PANTHEON_") or key in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PANTHEON_ENV", "test")
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    err = capsys.readouterr().err
    return status, err


def test_item3_replay_skips_hostile_lines_and_stores_the_rest(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines: list[str | bytes] = [
        json.dumps(good(0)),
        json.dumps({**good(1), "prompt": "a\ud800b"}),  # lone surrogate (escaped JSON)
        json.dumps(good(2)),
        json.dumps({**good(3), "response": "a\x00b"}),  # NUL
        b'{"god_name": "zeus", "prompt": "\xff\xfe", "response": "x", "success": true}',
        json.dumps({**good(5), "source_id": "a\x00"}),
        "[" * 100_000,  # nested too deeply for the JSON parser
        json.dumps(good(7)),
    ]
    path = write_jsonl(tmp_path / "hostile.jsonl", lines)
    env_for(
        monkeypatch,
        DATABASE_URL=database_url,
        PANTHEON_DATA_DIR=str(tmp_path / "data"),
        PANTHEON_TASK_MODE="sync",
    )
    if not database_url.startswith("sqlite"):
        assert main(["db", "upgrade"]) == 0
    status, err = run(capsys, "replay", str(path))
    assert status == 3, err  # some lines were skipped
    assert "Traceback" not in err
    for number in (2, 4, 5, 6, 7):
        assert f"line {number}:" in err, err
    settings = Settings()
    service = TrainingService(settings, database=Database(settings))
    assert queries.counts(service)["outcomes"] == 3  # lines 1, 3 and 8
    service.database.dispose()


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        ({"PANTHEON_LOG_LEVEL": "garbage"}, ["db", "current"], "PANTHEON_LOG_LEVEL"),
        ({}, ["--log-level", "loud", "db", "current"], "log-level"),
        ({"PANTHEON_DATA_DIR": "FILE"}, ["db", "current"], "PANTHEON_DATA_DIR"),
        ({"PANTHEON_DATA_DIR": "FILE/below"}, ["up"], "Not a directory"),
        ({"PANTHEON_DATA_DIR": "a" * 300}, ["db", "current"], "PANTHEON_DATA_DIR"),
        (
            {"DATABASE_URL": "postgresql://pantheon@127.0.0.1:9/nowhere"},
            ["up", "--port", "0"],
            "database",
        ),
        ({"DATABASE_URL": "mysql+nodriver://x"}, ["db", "upgrade"], ""),
        ({"PANTHEON_ROSTER_FILE": "ROSTER"}, ["up", "--port", "0"], "roster"),
        ({"PANTHEON_MAX_BATCH": "many"}, ["db", "current"], "PANTHEON_MAX_BATCH"),
    ],
)
def test_item10_and_11_bad_settings_end_in_one_clear_line(
    env: dict[str, str],
    argv: list[str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("not a directory")
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps({"gods": [{"name": None}, {"name": "zeus"}]}))
    values = {
        k: v.replace("FILE", str(afile)).replace("ROSTER", str(roster)) for k, v in env.items()
    }
    values.setdefault("PANTHEON_DATA_DIR", str(tmp_path / "data"))
    env_for(monkeypatch, **values)
    status, err = run(capsys, *argv)
    assert status != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("pantheon: ")]
    assert len(lines) == 1, err
    assert expected.lower() in lines[0].lower(), err
