"""Under a load above the pool size the pool reuses its connections (no churn).

SQLAlchemy closes an overflow connection whenever it is returned to a full pool;
under asyncio, returns land before the waiting requests take them, so with any
overflow a steady load opens (and PostgreSQL forks) a new connection per request.
The default pool is a fixed size instead.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from qoach.config import Settings
from qoach.db.engine import create_engine

pytestmark = pytest.mark.postgres_only


async def _backends_seen(settings: Settings, concurrency: int, rounds: int) -> set[int]:
    engine = create_engine(settings.database_url, settings)
    seen: set[int] = set()

    async def query() -> None:
        async with engine.connect() as conn:
            seen.add((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            await asyncio.sleep(0)

    try:
        for _ in range(rounds):
            await asyncio.gather(*(query() for _ in range(concurrency)))
    finally:
        await engine.dispose()
    return seen


async def test_default_pool_reuses_its_connections_under_load(
    settings: Settings, migrated_database: str
) -> None:
    defaults = Settings(
        **settings.model_dump(exclude={"database_pool_size", "database_max_overflow"})
    )
    backends = await _backends_seen(defaults, concurrency=64, rounds=20)
    assert len(backends) <= defaults.database_pool_size


async def test_overflow_connections_churn(settings: Settings, migrated_database: str) -> None:
    """The reason for the default: with overflow, new connections keep being opened."""
    overflowing = settings.model_copy(update={"database_pool_size": 4, "database_max_overflow": 4})
    backends = await _backends_seen(overflowing, concurrency=64, rounds=20)
    assert len(backends) > 8
