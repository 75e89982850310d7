"""Shared fixtures: a migrated database per run, the app, a client, clean state per test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import lanes

os.environ.update(lanes.test_environment())

from qoach.config import Settings, get_settings
from qoach.models import Base
from tests.factories import Factory

get_settings.cache_clear()


def pytest_report_header() -> str:
    return f"qoach test lane: {lanes.LANE} ({os.environ['DATABASE_URL']})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if lanes.LANE == "postgres":
        return
    skip = pytest.mark.skip(reason="PostgreSQL + Redis lane only")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


async def _create_pg_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(lanes.PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{lanes.PG_DATABASE}"')
    finally:
        await conn.close()


async def _drop_pg_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(lanes.PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{lanes.PG_DATABASE}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def migrated_database(settings: Settings) -> Iterator[str]:
    """Apply the Alembic migrations once per run (never create_all)."""
    from qoach.db.migrate import upgrade

    if lanes.LANE == "postgres":
        asyncio.run(_create_pg_database())
    upgrade(settings.database_url)
    yield settings.database_url
    if lanes.LANE == "postgres":
        asyncio.run(_drop_pg_database())


@pytest.fixture(scope="session")
async def app(migrated_database: str, settings: Settings) -> AsyncIterator[FastAPI]:
    from qoach.main import create_app

    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


_TABLES = [table.name for table in reversed(Base.metadata.sorted_tables)]


async def reset_state(application: FastAPI) -> None:
    async with application.state.engine.begin() as conn:
        # DELETE, children first: on a handful of rows it is far cheaper than TRUNCATE
        for name in _TABLES:
            await conn.execute(text(f"DELETE FROM {name}"))
    broker = application.state.broker
    await broker.flush()


@pytest.fixture
async def clean_app(app: FastAPI) -> FastAPI:
    """The app with an empty database and broker (cleaned before the test)."""
    await reset_state(app)
    return app


@pytest.fixture
async def client(clean_app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=clean_app, client=("127.0.0.1", 50000))
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def db(clean_app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session of the app's own engine, for arranging and checking data."""
    # DEFERRED on SQLite: a test that only reads must not hold the write lock the
    # app's own (IMMEDIATE) transactions wait for.
    engine = clean_app.state.engine.execution_options(sqlite_begin="DEFERRED")
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session


@pytest.fixture
def factory(db: AsyncSession, clean_app: FastAPI) -> Factory:
    return Factory(db, clean_app.state.settings)


class StatementCounter:
    """Counts the SQL statements the app's engine executes inside `with counter:`."""

    def __init__(self, engine: object) -> None:
        self._engine = engine
        self.statements: list[str] = []
        self._active = False

    def _listen(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if self._active:
            self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        from sqlalchemy import event

        self.statements.clear()
        self._active = True
        event.listen(self._engine.sync_engine, "before_cursor_execute", self._listen)  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        self._active = False
        event.remove(self._engine.sync_engine, "before_cursor_execute", self._listen)  # type: ignore[attr-defined]

    @property
    def count(self) -> int:
        # BEGIN / SAVEPOINT bookkeeping is not a query of ours
        return sum(
            1
            for s in self.statements
            if not s.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE"))
        )


@pytest.fixture
def count_statements(clean_app: FastAPI) -> StatementCounter:
    """`with count_statements as counter: ...; assert counter.count <= N`."""
    return StatementCounter(clean_app.state.engine)
