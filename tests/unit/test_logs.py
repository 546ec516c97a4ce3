"""pantheon.logs: the format chosen per environment, JSON fields, context fields."""

from __future__ import annotations

import io
import json
import logging

import pytest

from pantheon.config import LogFormat, Settings
from pantheon.logs import (
    CHATTY_LOGGERS,
    configure_logging,
    log_context,
    make_handler,
    resolve_format,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("env", "chosen", "expected"),
    [
        ("production", LogFormat.AUTO, LogFormat.JSON),
        ("development", LogFormat.AUTO, LogFormat.TEXT),
        ("test", LogFormat.AUTO, LogFormat.TEXT),
        ("development", LogFormat.JSON, LogFormat.JSON),
        ("production", LogFormat.TEXT, LogFormat.TEXT),
    ],
)
def test_auto_is_json_in_production_only(env: str, chosen: LogFormat, expected: LogFormat) -> None:
    settings = Settings(env=env, log_format=chosen)
    assert resolve_format(settings) is expected


def capture(log_format: LogFormat) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(f"pantheon.test.{log_format}")
    logger.handlers = [make_handler(log_format, stream)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_a_json_line_has_the_fields_and_the_context() -> None:
    logger, stream = capture(LogFormat.JSON)
    with log_context(god="athena", outcome_id=42, unset=None):
        logger.warning("trained %d outcomes", 3)
    logger.info("after", extra={"color_message": "\x1b[1mafter\x1b[0m"})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert list(first)[:4] == ["level", "time", "logger", "message"]
    assert first["level"] == "warning"
    assert first["message"] == "trained 3 outcomes"
    assert first["logger"] == "pantheon.test.json"
    assert first["time"].endswith("+00:00")
    assert (first["god"], first["outcome_id"]) == ("athena", 42)
    assert "unset" not in first
    assert "god" not in second  # the context ended with the block
    assert "color_message" not in second


def test_text_lines_stay_readable() -> None:
    logger, stream = capture(LogFormat.TEXT)
    logger.info("hello %s", "world")
    line = stream.getvalue().strip()
    assert line.endswith("INFO pantheon.test.text: hello world")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


@pytest.mark.parametrize(("level", "shown"), [("INFO", False), ("WARNING", False), ("DEBUG", True)])
def test_chatty_library_info_shows_only_at_debug(level: str, shown: bool) -> None:
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    try:
        configure_logging(Settings(), level)
        for name in CHATTY_LOGGERS:
            logger = logging.getLogger(name)
            assert logger.isEnabledFor(logging.INFO) is shown
            assert logger.isEnabledFor(logging.WARNING)
    finally:
        root.setLevel(before[0])
        root.handlers = before[1]
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
