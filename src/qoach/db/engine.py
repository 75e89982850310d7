"""Engines and session factories for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from qoach.config import Settings


def create_engine(url: str, settings: Settings, *, pool: bool = True) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": settings.database_echo}
    connect_args: dict[str, Any] = {}
    if url.startswith("sqlite"):
        connect_args["timeout"] = 30
        if pool and make_url(url).database not in (None, "", ":memory:"):
            # a file database gets SQLAlchemy's queue pool: same limits as PostgreSQL
            kwargs.update(_pool_limits(settings))
        engine = create_async_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    if settings.database_ssl:
        context = ssl.create_default_context()
        connect_args["ssl"] = context
    connect_args["server_settings"] = {"application_name": "qoach"}
    if pool:
        kwargs.update(_pool_limits(settings), pool_recycle=1800)
    else:
        from sqlalchemy.pool import NullPool

        kwargs["poolclass"] = NullPool
    engine = create_async_engine(url, connect_args=connect_args, **kwargs)
    if pool:
        _drop_closed_connections(engine)
    return engine


def _drop_closed_connections(engine: AsyncEngine) -> None:
    """Replace a pooled connection the server has closed, without a round trip.

    asyncpg notices a closed socket as soon as the server goes away (a restart, a
    terminated backend), so a local check at checkout replaces SQLAlchemy's
    `pool_pre_ping`, which costs three round trips (BEGIN, `;`, ROLLBACK) on every
    request. A connection that died silently (a half-open TCP link) fails its first
    statement instead: that request is a 503 and the pool is invalidated.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "_connection", None)
        if driver is not None and driver.is_closed():
            raise DisconnectionError("the server closed this pooled connection")


def _pool_limits(settings: Settings) -> dict[str, Any]:
    return {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout,
    }


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Foreign keys on, WAL, and SQLAlchemy's recipe so SAVEPOINTs work with aiosqlite."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's own handling breaks savepoints).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: concurrent writers queue on
        # busy_timeout instead of failing with "database is locked" on upgrade.
        # Long read-only work (exports) passes execution_options(sqlite_begin="DEFERRED").
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def describe_database(url: str) -> tuple[str, str | None]:
    """(`source`, `host`) for the health endpoints; never credentials."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return "embedded", None
    return source_of_host(parsed.host), parsed.host


def source_of_host(host: str | None) -> str:
    host = (host or "").lower()
    if "railway" in host or host.endswith(".rlwy.net"):
        return "railway"
    return "local"


def host_of_url(url: str) -> str | None:
    return urlsplit(url).hostname
