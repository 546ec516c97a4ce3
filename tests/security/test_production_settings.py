"""Production refuses default or short secrets, and the embedded SQLite database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pantheon.api import create_app
from pantheon.config import DEFAULT_SECRETS, Settings
from pantheon.errors import ConfigurationError

pytestmark = pytest.mark.unit

GOOD = "a-production-token-0123456789abcdef"
PG = "postgresql://pantheon@127.0.0.1:5432/pantheon"


def prod(tmp_path: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {
        "env": "production",
        "data_dir": tmp_path,
        "database_url_raw": PG,
        "api_token": GOOD,
    }
    base.update(values)
    return Settings(**base)


def test_a_safe_production_configuration_passes(tmp_path: Path) -> None:
    prod(tmp_path).require_safe_for_production()


@pytest.mark.parametrize(
    "token", [None, *sorted(DEFAULT_SECRETS), "short-token", " CHANGEME ", "Changeme"]
)
def test_production_refuses_missing_default_or_short_tokens(
    tmp_path: Path, token: str | None
) -> None:
    with pytest.raises(ConfigurationError):
        prod(tmp_path, api_token=token).require_safe_for_production()


@pytest.mark.parametrize("secret", ["", "changeme", "secret", "too-short"])
def test_production_refuses_a_default_cron_secret(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigurationError):
        prod(tmp_path, cron_secret=secret).require_safe_for_production()


def test_production_refuses_the_embedded_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        prod(tmp_path, database_url_raw=None).require_safe_for_production()


def test_the_web_app_will_not_build_with_a_default_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        create_app(prod(tmp_path, api_token="changeme"))


def test_the_error_does_not_quote_the_secret(tmp_path: Path) -> None:
    secret = "pantheon"
    with pytest.raises(ConfigurationError) as info:
        prod(tmp_path, api_token=secret).require_safe_for_production()
    assert secret not in str(info.value).replace("PANTHEON_", "")


def test_settings_repr_hides_secrets(tmp_path: Path) -> None:
    settings = prod(tmp_path, cron_secret="cron-secret-" + "9" * 16)
    assert GOOD not in repr(settings)
    assert "9" * 16 not in repr(settings)
