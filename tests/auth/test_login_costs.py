"""Login frees its pooled connection while argon2 runs, and re-hashes old parameters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.config import Settings
from qoach.main import create_app
from qoach.models import User
from tests.factories import PASSWORD, Factory


def _slow_hash() -> str:
    """A hash whose verification takes a few hundred ms (its cost is read from the hash)."""
    return Argon2Hasher(memory_cost=65536, time_cost=16, parallelism=1).hash(PASSWORD)


@pytest.fixture
async def one_connection_app(clean_app: FastAPI, settings: Settings) -> AsyncIterator[FastAPI]:
    tiny = settings.model_copy(
        update={"database_pool_size": 1, "database_max_overflow": 0, "database_pool_timeout": 0.3}
    )
    application = create_app(tiny)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


async def test_other_requests_are_served_while_a_login_verifies(
    one_connection_app: FastAPI, factory: Factory
) -> None:
    slow = await factory.user(email="slow@example.com", password_hash=_slow_hash())
    reader = await factory.user()
    headers = await factory.headers(reader)
    transport = ASGITransport(app=one_connection_app, client=("127.0.0.1", 50000))
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        finished: dict[str, float] = {}

        async def log_in() -> int:
            response = await http.post(
                "/auth/login", json={"email": slow.email, "password": PASSWORD}
            )
            finished["login"] = time.monotonic()
            return response.status_code

        login = asyncio.create_task(log_in())
        await asyncio.sleep(0.1)  # the login has read the user and is hashing now
        read = await http.get("/users/me", headers=headers)
        finished["read"] = time.monotonic()

        assert await login == 200
        # the only pooled connection was free during the verification
        assert read.status_code == 200
        assert finished["read"] < finished["login"]


async def test_login_moves_an_old_hash_to_the_current_parameters(
    client: AsyncClient, factory: Factory, db: AsyncSession, settings: Settings
) -> None:
    old = Argon2Hasher(memory_cost=65536, time_cost=3, parallelism=4).hash(PASSWORD)
    user = await factory.user(email="old@example.com", password_hash=old)

    response = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200

    stored = (await db.execute(select(User.password_hash).where(User.id == user.id))).scalar_one()
    expected = (
        f"m={settings.password_hash_memory_cost},t={settings.password_hash_time_cost},"
        f"p={settings.password_hash_parallelism}$"
    )
    assert stored is not None and stored != old and expected in stored
    # the new hash is the same password
    again = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert again.status_code == 200


async def test_wrong_password_keeps_the_old_hash(
    client: AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    old = Argon2Hasher(memory_cost=65536, time_cost=3, parallelism=4).hash(PASSWORD)
    user = await factory.user(email="wrong@example.com", password_hash=old)

    response = await client.post("/auth/login", json={"email": user.email, "password": "nope-nope"})
    assert response.status_code == 401

    stored = (await db.execute(select(User.password_hash).where(User.id == user.id))).scalar_one()
    assert stored == old
