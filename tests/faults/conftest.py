"""Private PostgreSQL and Redis servers for the run, and app processes per test.

The servers are started once per run (initdb, migrations through `qoach migrate`)
and brought back up before each test in case a failed test left one stopped; each
test gets its own Redis key prefix and its own company, quiz and users, so tests
never see each other's rows. Every process is ended in teardown, pass or fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.faults.helpers import AppServer, PostgresServer, RedisServer, migrate


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.init()
        server.start()
        migrate(server.url())
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@dataclass
class Stack:
    pg: PostgresServer
    redis: RedisServer
    prefix: str = field(default_factory=lambda: f"qoach-faults-{uuid.uuid4().hex[:8]}")
    apps: list[AppServer] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,  # APP_ENV=test and the secrets of the run (tests/lanes.py)
            "DATABASE_URL": self.pg.url(),
            "DATABASE_READ_URL": "",
            "REDIS_URL": self.redis.url,
            "REDIS_PREFIX": self.prefix,
            "SCHEDULER_ENABLED": "false",
            "DATABASE_POOL_SIZE": "5",
            "DATABASE_MAX_OVERFLOW": "5",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    @property
    def pg_url(self) -> str:
        return self.pg.url(driver="postgresql")

    def app(self, *, via_cli: bool = False) -> AppServer:
        server = AppServer(self.env, via_cli=via_cli)
        self.apps.append(server)
        server.start()
        return server


@pytest.fixture
def stack(pg_server: PostgresServer, redis_server: RedisServer) -> Iterator[Stack]:
    pg_server.ensure_running()
    redis_server.ensure_running()
    running = Stack(pg_server, redis_server)
    try:
        yield running
    finally:
        for app in running.apps:
            app.close()
        # leave the shared servers up for the next test
        pg_server.ensure_running()
        redis_server.ensure_running()


@pytest.fixture
def start_app(stack: Stack) -> Callable[..., AppServer]:
    return stack.app
