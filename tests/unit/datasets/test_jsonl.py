"""JSON Lines reading: blank lines are skipped, every other line is parsed or reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantheon.datasets.jsonl import count_lines, iter_lines

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("line", ["\x1c", "\x1f", "\x85", "\u2028", "\xa0", "\u3000"])
def test_a_line_of_unicode_separators_is_reported_not_skipped(tmp_path: Path, line: str) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n' + line.encode() + b'\n{"b": 2}\n')
    found = list(iter_lines(path))
    assert [(x.number, x.record) for x in found] == [(1, {"a": 1}), (2, None), (3, {"b": 2})]
    assert str(found[1].error).startswith("not valid JSON")


def test_ascii_whitespace_lines_are_blank(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b' \t\r\x0b\x0c\n{"a": 1}\r\n\n')
    assert [(x.number, x.record, x.error) for x in iter_lines(path)] == [(2, {"a": 1}, None)]


def test_the_line_count_is_the_number_of_lines_read(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\r\n \t\n\x1c\nnot json\n\xff\n\n{"b": 2}')
    assert count_lines(path) == len(list(iter_lines(path))) == 5
