"""Test lanes: `postgres` (PostgreSQL + Redis) and `embedded` (SQLite + in-process broker).

Chosen with QOACH_TEST_LANE. Each pytest run gets its own PostgreSQL database and
its own Redis key prefix, so runs can overlap on one machine.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

LANE = os.environ.get("QOACH_TEST_LANE", "embedded")
if LANE not in {"postgres", "embedded"}:
    raise RuntimeError(f"QOACH_TEST_LANE must be postgres or embedded, not {LANE!r}")

RUN_ID = uuid.uuid4().hex[:10]
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_DATABASE = f"qoach_test_{RUN_ID}"
SQLITE_DIR = Path(tempfile.mkdtemp(prefix="qoach-test-"))


def pg_url(database: str = PG_DATABASE, driver: str = "postgresql+asyncpg") -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', driver + '://', 1)}/{database}"


def test_environment() -> dict[str, str]:
    env = {
        "APP_ENV": "test",
        "SECRET_KEY": "test-access-secret-" + "x" * 40,
        "REFRESH_SECRET_KEY": "test-refresh-secret-" + "y" * 40,
        "PASSWORD_HASH_MEMORY_COST": "8192",
        "PASSWORD_HASH_TIME_COST": "1",
        "SCHEDULER_ENABLED": "false",
        "REDIS_PREFIX": f"qoach-test-{RUN_ID}",
        "LOG_LEVEL": "WARNING",
    }
    if LANE == "postgres":
        env["DATABASE_URL"] = pg_url()
        env["REDIS_URL"] = REDIS_URL
    else:
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{SQLITE_DIR / 'qoach.db'}"
        env["REDIS_URL"] = ""
    return env
