"""Production refuses default or short secrets, and the embedded SQLite database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pantheon.api.app import create_app
from pantheon.config import DEFAULT_SECRETS, Role, Settings
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


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    settings = prod(tmp_path, database_url_raw=None, api_token=None, cron_secret="short")
    problems = settings.production_problems(Role.WORKER)
    assert len(problems) == 4, problems
    with pytest.raises(ConfigurationError) as info:
        settings.require_safe_for_production(Role.WORKER)
    for variable in ("DATABASE_URL", "PANTHEON_API_TOKEN", "CRON_SECRET", "REDIS_URL"):
        assert variable in info.value.message


def test_sqlite_in_production_is_refused_even_when_spelled_out(tmp_path: Path) -> None:
    settings = prod(tmp_path, database_url_raw=f"sqlite:///{tmp_path / 'x.db'}")
    assert settings.production_problems() == [
        "DATABASE_URL points at SQLite (production needs PostgreSQL)"
    ]


@pytest.mark.parametrize("role", [Role.WORKER, Role.BEAT])
def test_worker_and_beat_need_a_broker_configured(tmp_path: Path, role: Role) -> None:
    assert any("REDIS_URL" in p for p in prod(tmp_path).production_problems(role))
    assert prod(tmp_path, redis_url="redis://redis.internal:6379/0").production_problems(role) == []
    assert prod(tmp_path, celery_broker_url_raw="amqp://mq//").production_problems(role) == []
    # The web service falls back to in-process training; it does not need a broker.
    assert prod(tmp_path).production_problems(Role.WEB) == []


def test_the_broker_from_the_environment_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://redis.internal:6379/0")
    settings = Settings(env="production", database_url_raw=PG, api_token=GOOD)
    assert settings.production_problems(Role.WORKER) == []


def test_outside_production_nothing_is_refused(tmp_path: Path) -> None:
    settings = prod(tmp_path, env="development", database_url_raw=None, api_token=None)
    assert settings.production_problems(Role.WORKER) == []
    settings.require_safe_for_production(Role.BEAT)


@pytest.mark.parametrize(
    ("values", "env", "expected"),
    [
        ({}, {}, "127.0.0.1"),
        ({}, {"PORT": "8080"}, "0.0.0.0"),
        ({"env": "production"}, {}, "0.0.0.0"),
        ({"port": 9000}, {}, "0.0.0.0"),
        ({"host": "10.0.0.5"}, {"PORT": "8080"}, "10.0.0.5"),
    ],
)
def test_bind_host_follows_the_platform(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, Any], env: dict[str, str], expected: str
) -> None:
    """A service started by Railway (``PORT`` set) must not listen on loopback only."""
    for name in ("PORT", "PANTHEON_HOST", "PANTHEON_ENV"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings(**values).bind_host == expected
