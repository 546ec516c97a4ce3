""".env.example documents every Settings variable, each with its real default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pantheon.config import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")
#: Shown with an example value, not the default (the default is "unset", or computed
#: per machine: the encode limit is the process's CPUs).
EXAMPLES = {"DATABASE_URL", "PANTHEON_ENCODE_CONCURRENCY"}


def documented() -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = LINE.match(raw.strip())
        if match:
            assert match[1] not in out, f"{match[1]} is listed twice"
            out[match[1]] = match[2].strip()
    return out


def aliases() -> dict[str, str]:
    return {str(f.validation_alias): name for name, f in Settings.model_fields.items()}


def test_every_settings_variable_is_documented() -> None:
    missing = sorted(set(aliases()) - set(documented()))
    assert not missing, f".env.example lacks {missing}"


def test_no_stale_variables() -> None:
    stale = sorted(set(documented()) - set(aliases()))
    assert not stale, f".env.example lists {stale}, which Settings does not read"


def test_defaults_shown_are_the_real_ones() -> None:
    fields = aliases()
    for alias, value in documented().items():
        name = fields[alias]
        default = Settings.model_fields[name].default
        if alias in EXAMPLES or value == "":
            assert default is None or alias in EXAMPLES, f"{alias} has default {default!r}"
            continue
        parsed = getattr(Settings(**{alias: value}), name)  # type: ignore[arg-type]
        assert parsed == default, f"{alias}={value} but the default is {default!r}"
