"""Replay through the intake path on an embedded SQLite database, in sync mode."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from pantheon.config import Settings
from pantheon.datasets.jsonl import iter_lines
from pantheon.datasets.replay import Pacer, build_replayer, gods_in, register_gods
from pantheon.errors import ConfigurationError, ValidationError
from pantheon.roster import Roster

pytestmark = pytest.mark.unit


def outcome(i: int, god: str = "athena", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "god_name": god,
        "prompt": f"Prove that {i} squared is non-negative.",
        "response": "",
        "success": i % 3 != 0,
        "outcome_key": f"k{i}",
        "source_type": "replay",
    }
    body.update(extra)
    return body


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    return write(
        tmp_path / "mixed.jsonl",
        [
            json.dumps(outcome(1)),
            "{broken",
            json.dumps(outcome(2, god="odin")),
            json.dumps(outcome(3, prompt="   ")),
            "",
            json.dumps(outcome(4, prompt="x" * 50)),
            json.dumps(outcome(5, score=1.5)),
            json.dumps(outcome(6, god="Apollo")),
            json.dumps(outcome(7)),
        ],
    )


def test_bad_lines_are_reported_by_number_and_the_rest_go_in(mixed_file: Path, make_settings):  # type: ignore[no-untyped-def]
    settings = make_settings(max_prompt_chars=40)
    replayer = build_replayer(settings)
    report = replayer.replay_lines(iter_lines(mixed_file), chunk=3)
    assert report.lines == 8
    assert report.accepted == 3
    bad = dict(report.bad)
    assert sorted(bad) == [2, 3, 4, 6, 7]
    assert "JSON" in bad[2]
    assert "unknown god 'odin'" in bad[3]
    assert "prompt" in bad[4]
    assert "40 characters" in bad[6]
    assert "score" in bad[7]
    assert report.per_god == {"athena": 2, "apollo": 1}
    assert report.dispatched >= 2
    assert set(report.modes) == {"sync"}
    # Online training ran through the dispatcher: the gods' kernels took steps.
    assert replayer.service.get_kernel("athena").step_count > 0
    assert replayer.service.get_kernel("apollo").outcomes_seen == 1


def test_replaying_twice_stores_each_outcome_once(tmp_path: Path, make_settings) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path / "ok.jsonl", [json.dumps(outcome(i)) for i in range(1, 31)])
    replayer = build_replayer(make_settings())
    first = replayer.replay_lines(iter_lines(path))
    second = replayer.replay_lines(iter_lines(path))
    assert (first.accepted, first.duplicates) == (30, 0)
    assert (second.accepted, second.duplicates) == (0, 30)
    assert second.dispatched == 0


def test_register_gods_writes_a_roster_file(tmp_path: Path, make_settings) -> None:  # type: ignore[no-untyped-def]
    path = write(
        tmp_path / "llms.jsonl",
        [json.dumps(outcome(1, god="gpt-4-1106-preview")), json.dumps(outcome(2, god="Zeus"))],
    )
    settings = make_settings()
    assert gods_in(path) == ["gpt-4-1106-preview", "Zeus"]
    updated, added = register_gods(settings, gods_in(path))
    assert added == ["gpt-4-1106-preview"]
    assert updated.roster_file == settings.data_dir / "roster.json"
    roster = Roster.from_file(cast(Path, updated.roster_file))  # set: asserted just above
    assert "gpt-4-1106-preview" in roster
    assert "zeus" in roster
    report = build_replayer(updated).replay_lines(iter_lines(path))
    assert report.accepted == 2
    assert not report.bad
    # Registering the same gods again changes nothing.
    assert register_gods(updated, gods_in(path))[1] == []


def test_register_gods_refuses_invalid_names(make_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError):
        register_gods(make_settings(), ["bad name with spaces"])


def test_pacer_keeps_the_average_rate() -> None:
    now = [100.0]
    pacer = Pacer(10.0, clock=lambda: now[0])
    assert pacer.delay_after(5) == pytest.approx(0.5)
    now[0] += 0.5
    assert pacer.delay_after(5) == pytest.approx(0.5)
    now[0] += 3.0  # fell behind: no wait
    assert pacer.delay_after(10) == 0.0
    assert Pacer(None).delay_after(10**6) == 0.0
    with pytest.raises(ValidationError):
        Pacer(0)


def test_a_failed_dispatch_defers_training_and_keeps_the_outcome(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    class Down:
        def dispatch(self, task_name: str, **kwargs: Any) -> Any:
            raise ConnectionError("broker gone")

    path = write(tmp_path / "ok.jsonl", [json.dumps(outcome(i)) for i in range(1, 6)])
    replayer = build_replayer(make_settings())
    replayer.dispatcher = Down()  # type: ignore[assignment]  # a fake whose broker is gone
    report = replayer.replay_lines(iter_lines(path))
    assert report.accepted == 5
    assert report.modes == {"deferred": 1}
    assert replayer.service.get_kernel("athena").step_count == 0
