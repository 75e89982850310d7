from __future__ import annotations

import pytest
from pydantic import ValidationError

from qoach.config import Settings, normalize_database_url

STRONG_A = "a" * 48
STRONG_B = "b" * 48


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "postgres://u:p@db.railway.internal:5432/app",
            "postgresql+asyncpg://u:p@db.railway.internal:5432/app",
        ),
        ("postgresql://u@localhost/app", "postgresql+asyncpg://u@localhost/app"),
        ("postgresql+asyncpg://u@localhost/app", "postgresql+asyncpg://u@localhost/app"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
    ],
)
def test_database_urls_are_normalised(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected
    assert (
        Settings(database_url=given, secret_key=STRONG_A, refresh_secret_key=STRONG_B).database_url
        == expected
    )


@pytest.mark.parametrize("secret", ["", "changeme", "short-secret"])
def test_production_refuses_missing_or_placeholder_secrets(secret: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(app_env="production", secret_key=secret, refresh_secret_key=STRONG_B)


def test_development_generates_ephemeral_secrets(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(app_env="development", secret_key="", refresh_secret_key="")
    assert len(settings.secret_key) >= 32
    assert settings.secret_key != settings.refresh_secret_key
    assert "ephemeral" in caplog.text


def test_production_accepts_strong_secrets() -> None:
    settings = Settings(app_env="production", secret_key=STRONG_A, refresh_secret_key=STRONG_B)
    assert settings.secret_key == STRONG_A


def test_identical_secrets_are_refused() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        Settings(secret_key=STRONG_A, refresh_secret_key=STRONG_A)


def test_cors_origins_from_comma_list_or_json() -> None:
    assert Settings(
        backend_cors_origins="https://a.example, https://b.example",
        secret_key=STRONG_A,
        refresh_secret_key=STRONG_B,
    ).backend_cors_origins == ["https://a.example", "https://b.example"]
    assert Settings(
        backend_cors_origins='["https://a.example"]',
        secret_key=STRONG_A,
        refresh_secret_key=STRONG_B,
    ).backend_cors_origins == ["https://a.example"]


def test_empty_redis_url_means_embedded_broker() -> None:
    settings = Settings(redis_url="", secret_key=STRONG_A, refresh_secret_key=STRONG_B)
    assert settings.is_embedded_broker


def test_auth0_urls_derive_from_the_domain() -> None:
    settings = Settings(
        auth0_domain="tenant.eu.auth0.com",
        auth0_audience="https://api.qoach",
        secret_key=STRONG_A,
        refresh_secret_key=STRONG_B,
    )
    assert settings.auth0_enabled
    assert settings.auth0_issuer_url == "https://tenant.eu.auth0.com/"
    assert settings.auth0_jwks == "https://tenant.eu.auth0.com/.well-known/jwks.json"
