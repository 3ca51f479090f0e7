from pathlib import Path

import pytest

from portal import create_app
from portal.config import DEFAULT_SECRET_KEY, ConfigurationError, Settings, load_settings

INSTANCE = Path("/srv/portal/instance")
STRONG_SECRET = "x" * 40


def test_defaults_run_with_nothing_installed() -> None:
    settings = load_settings({}, INSTANCE)
    assert settings.database_url == "sqlite:////srv/portal/instance/portal.db"
    assert settings.storage_url == "file:///srv/portal/instance/documents"
    assert settings.mail_url == "outbox:"
    assert settings.payments_provider == "simulated"
    assert settings.redis_url is None


def test_environment_switches_each_service() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://db/portal",
            "STORAGE_URL": "s3://documents",
            "MAIL_URL": "smtp://mail:25",
            "REDIS_URL": "redis://cache:6379/0",
        },
        INSTANCE,
    )
    assert settings.database_url == "postgresql+psycopg://db/portal"
    assert settings.storage_url == "s3://documents"
    assert settings.mail_url == "smtp://mail:25"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.flask_config()["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": STRONG_SECRET}, "DATABASE_URL must point at PostgreSQL"),
        (
            {"SECRET_KEY": STRONG_SECRET, "DATABASE_URL": "postgresql+psycopg://db/portal"},
            "simulated payment provider",
        ),
    ],
)
def test_production_refuses_unsafe_defaults(overrides: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        load_settings({"PORTAL_ENV": "production", **overrides}, INSTANCE)


def test_production_lists_every_problem_at_once() -> None:
    problems = Settings.from_env({"PORTAL_ENV": "production"}, INSTANCE).problems()
    assert len(problems) == 3


def test_unknown_environment_and_provider_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="PORTAL_ENV must be one of"):
        load_settings({"PORTAL_ENV": "staging"}, INSTANCE)
    with pytest.raises(ConfigurationError, match="PAYMENTS_PROVIDER 'paypal'"):
        load_settings({"PAYMENTS_PROVIDER": "paypal"}, INSTANCE)


def test_create_app_refuses_production_defaults() -> None:
    with pytest.raises(ConfigurationError):
        create_app({"PORTAL_ENV": "production", "SECRET_KEY": DEFAULT_SECRET_KEY})


def test_cookies_are_hardened_in_production_settings() -> None:
    production = Settings.from_env({"PORTAL_ENV": "production"}, INSTANCE).flask_config()
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert production["SESSION_COOKIE_SAMESITE"] == "Lax"
