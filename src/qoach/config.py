"""Settings, read once from the environment and `.env`.

With nothing configured the service runs *embedded*: a SQLite file in the working
directory and an in-process broker. `DATABASE_URL` and `REDIS_URL` switch it to
PostgreSQL and Redis.
"""

from __future__ import annotations

import logging
import secrets
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

logger = logging.getLogger("qoach.config")

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "dev", "development", "please-change-me"}
)
MIN_SECRET_LENGTH = 32


class AppEnv(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def normalize_database_url(url: str) -> str:
    """Map the URLs hosting platforms inject onto our async drivers."""
    for prefix in (
        "postgres://",
        "postgresql://",
        "postgresql+psycopg2://",
        "postgresql+psycopg://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    app_env: AppEnv = AppEnv.development
    log_level: str = "INFO"

    # database
    database_url: str = "sqlite+aiosqlite:///./qoach.db"
    database_read_url: str | None = None
    database_ssl: bool = False
    # connections kept open per process (and per engine: the read replica has its own)
    database_pool_size: int = Field(default=20, ge=1)
    # extra connections beyond the pool: each is closed whenever it comes back to a full
    # pool, which under a steady load above the pool size means a new PostgreSQL
    # connection per request; 0 keeps the pool a fixed size (requests wait instead)
    database_max_overflow: int = Field(default=0, ge=0)
    # seconds a request waits for a pooled connection before it is answered 503
    database_pool_timeout: float = Field(default=5.0, gt=0)
    database_echo: bool = False

    # broker
    redis_url: str | None = None
    redis_prefix: str = "qoach"

    # auth
    secret_key: str = ""
    refresh_secret_key: str = ""
    access_token_expire_minutes: int = Field(default=15, ge=1)
    refresh_token_expire_days: int = Field(default=7, ge=1)
    # argon2id: OWASP's minimum-recommended profile (19 MiB, t=2, p=1) ≈ 15–20 ms of
    # CPU per hash; existing hashes keep verifying (the parameters are in the hash)
    password_hash_memory_cost: int = Field(default=19456, ge=8192)
    password_hash_time_cost: int = Field(default=2, ge=1)
    password_hash_parallelism: int = Field(default=1, ge=1)
    # hashing runs in a thread pool of its own, per process: this many hashes at once
    # (unset: the CPUs the process may run on, at most 2), this many more waiting, then
    # 503 + Retry-After; its threads run at this niceness (Linux) so reads go first
    password_hash_max_concurrent: int | None = Field(default=None, ge=1)
    password_hash_max_queued: int = Field(default=16, ge=0)
    password_hash_thread_nice: int = Field(default=10, ge=0, le=19)
    login_max_failures_per_account: int = Field(default=10, ge=1)
    login_max_failures_per_address: int = Field(default=100, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)

    auth0_domain: str | None = None
    auth0_audience: str | None = None
    auth0_jwks_url: str | None = None
    auth0_email_claim: str = "email"
    auth0_issuer: str | None = None

    # http
    backend_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # scheduler
    scheduler_enabled: bool = True
    reminder_cron: str = "0 0 * * *"
    reminder_timezone: str = "UTC"

    # excel import
    import_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    import_max_rows: int = Field(default=10_000, ge=1)
    import_max_uncompressed_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    import_max_zip_entries: int = Field(default=1_000, ge=1)
    # workbooks parsed at once per process; more wait up to `import_queue_seconds`, then 503
    import_max_concurrent: int = Field(default=2, ge=1)
    import_queue_seconds: float = Field(default=10.0, ge=0)

    @field_validator("database_url", "database_read_url", mode="before")
    @classmethod
    def _normalize_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            return normalize_database_url(value.strip()) if value.strip() else None
        return value

    @field_validator(
        "redis_url",
        "auth0_domain",
        "auth0_audience",
        "auth0_jwks_url",
        "password_hash_max_concurrent",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("backend_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _check_secrets(self) -> Settings:
        for name in ("secret_key", "refresh_secret_key"):
            value: str = getattr(self, name)
            weak = value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH
            if not weak:
                continue
            if self.app_env is AppEnv.production:
                raise ValueError(
                    f"{name.upper()} is missing or a placeholder; set a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters (e.g. `python -c 'import secrets; "
                    f"print(secrets.token_urlsafe(48))'`) before starting in production"
                )
            if value:
                logger.warning("%s is weak; generating an ephemeral one", name.upper())
            else:
                logger.warning(
                    "%s is not set: using an ephemeral secret (tokens will not survive a restart)",
                    name.upper(),
                )
            object.__setattr__(self, name, secrets.token_urlsafe(48))
        if self.secret_key == self.refresh_secret_key:
            raise ValueError("SECRET_KEY and REFRESH_SECRET_KEY must differ")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_embedded_broker(self) -> bool:
        return self.redis_url is None

    @property
    def auth0_enabled(self) -> bool:
        return bool(self.auth0_domain and self.auth0_audience)

    @property
    def auth0_issuer_url(self) -> str | None:
        if self.auth0_issuer:
            return self.auth0_issuer
        if not self.auth0_domain:
            return None
        domain = self.auth0_domain.removeprefix("https://").rstrip("/")
        return f"https://{domain}/"

    @property
    def auth0_jwks(self) -> str | None:
        if self.auth0_jwks_url:
            return self.auth0_jwks_url
        issuer = self.auth0_issuer_url
        return f"{issuer}.well-known/jwks.json" if issuer else None


@lru_cache
def get_settings() -> Settings:
    return Settings()
