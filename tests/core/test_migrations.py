"""The models and the migrations agree, and the migrations run both ways."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from qoach.config import Settings
from qoach.db.engine import create_engine
from qoach.db.migrate import downgrade, upgrade
from qoach.models import Base
from tests import lanes


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "render_as_batch": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def _diff_for(url: str, settings: Settings) -> list[Any]:
    engine = create_engine(url, settings, pool=False)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def _tables(url: str, settings: Settings) -> set[str]:
    engine = create_engine(url, settings, pool=False)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_models_match_migrations(migrated_database: str, settings: Settings) -> None:
    assert await _diff_for(migrated_database, settings) == []


@pytest.fixture
def scratch_database_url() -> Any:
    """An empty database of the lane, dropped afterwards."""
    if lanes.LANE == "postgres":
        import asyncpg

        name = f"qoach_scratch_{uuid.uuid4().hex[:8]}"

        async def run(sql: str) -> None:
            conn = await asyncpg.connect(lanes.PG_ADMIN_URL)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run(f'CREATE DATABASE "{name}"'))
        yield lanes.pg_url(name)
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        yield f"sqlite+aiosqlite:///{lanes.SQLITE_DIR / f'scratch-{uuid.uuid4().hex[:8]}.db'}"


def test_upgrade_downgrade_round_trip(scratch_database_url: str, settings: Settings) -> None:
    upgrade(scratch_database_url)
    downgrade(scratch_database_url, "base")
    assert asyncio.run(_tables(scratch_database_url, settings)) <= {"alembic_version"}
    upgrade(scratch_database_url)
    assert asyncio.run(_diff_for(scratch_database_url, settings)) == []
