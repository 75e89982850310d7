"""Every pooled connection busy: requests wait DATABASE_POOL_TIMEOUT, then get 503."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from qoach.config import Settings
from qoach.main import create_app
from tests.factories import Factory


@pytest.fixture
async def tiny_pool_app(clean_app: FastAPI, settings: Settings) -> AsyncIterator[FastAPI]:
    tiny = settings.model_copy(
        update={"database_pool_size": 1, "database_max_overflow": 0, "database_pool_timeout": 0.3}
    )
    application = create_app(tiny)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


async def test_exhausted_pool_answers_503_with_retry_after(
    tiny_pool_app: FastAPI, factory: Factory
) -> None:
    user = await factory.user()
    headers = await factory.headers(user)
    transport = ASGITransport(app=tiny_pool_app, client=("127.0.0.1", 50000))
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/users/me", headers=headers)).status_code == 200

        # one request (here: a held connection) owns the only pooled connection
        async with tiny_pool_app.state.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            started = time.monotonic()
            response = await http.get("/users/me", headers=headers)
            waited = time.monotonic() - started

        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json() == {
            "detail": "The service is busy, retry later",
            "code": "service_unavailable",
        }
        assert waited < 5  # DATABASE_POOL_TIMEOUT, not SQLAlchemy's 30 s default

        # the connection is back: the next request is served again
        assert (await http.get("/users/me", headers=headers)).status_code == 200
