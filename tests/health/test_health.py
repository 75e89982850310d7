from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from qoach.config import Settings
from tests import lanes
from tests.auth.helpers import client_for, running_app

EMBEDDED = lanes.LANE == "embedded"


def expected_database() -> dict[str, Any]:
    if EMBEDDED:
        return {"status": "ok", "source": "embedded", "host": None}
    return {"status": "ok", "source": "local", "host": "127.0.0.1"}


def expected_redis() -> dict[str, Any]:
    if EMBEDDED:
        return {"status": "disabled", "source": "embedded", "host": None}
    return {"status": "ok", "source": "local", "host": "127.0.0.1"}


async def test_liveness(client: AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_db(client: AsyncClient) -> None:
    response = await client.get("/health/db")
    assert response.status_code == 200
    assert response.json() == expected_database()


async def test_health_redis(client: AsyncClient) -> None:
    response = await client.get("/health/redis")
    assert response.status_code == 200
    assert response.json() == expected_redis()


async def test_health_all(client: AsyncClient) -> None:
    response = await client.get("/health/all")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": expected_database(),
        "redis": expected_redis(),
    }


async def test_health_needs_no_token_and_ignores_a_bad_one(client: AsyncClient) -> None:
    for path in ("/", "/health/db", "/health/redis", "/health/all"):
        response = await client.get(path, headers={"Authorization": "Bearer garbage"})
        assert response.status_code == 200, path


async def test_degraded_when_database_and_redis_do_not_answer(
    clean_app: FastAPI, settings: Settings
) -> None:
    down = settings.model_copy(
        update={
            "database_url": "postgresql+asyncpg://postgres:s3cret-pw@127.0.0.1:1/x",
            "redis_url": "redis://:r3dis-pw@127.0.0.1:1/0",
        }
    )
    started = time.monotonic()
    async with running_app(down) as application, client_for(application) as http:
        db = await http.get("/health/db")
        assert db.status_code == 503
        body = db.json()
        assert body["status"] == "error"
        assert body["source"] == "local" and body["host"] == "127.0.0.1"
        assert isinstance(body["error"], str) and body["error"]

        redis = await http.get("/health/redis")
        assert redis.status_code == 503
        assert redis.json()["status"] == "error"
        assert redis.json()["source"] == "local" and redis.json()["host"] == "127.0.0.1"
        assert redis.json()["error"]

        everything = await http.get("/health/all")
        assert everything.status_code == 503
        assert everything.json()["status"] == "degraded"
        assert everything.json()["database"]["status"] == "error"
        assert everything.json()["redis"]["status"] == "error"

        assert (await http.get("/")).status_code == 200
        for response in (db, redis, everything):
            assert "s3cret-pw" not in response.text and "r3dis-pw" not in response.text
            assert "Traceback" not in response.text
    assert time.monotonic() - started < 10


async def test_degraded_when_only_redis_is_down(clean_app: FastAPI, settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    async with running_app(down) as application, client_for(application) as http:
        response = await http.get("/health/all")
        assert response.status_code == 503
        assert response.json()["status"] == "degraded"
        assert response.json()["database"] == expected_database()
        assert (await http.get("/health/db")).status_code == 200


async def test_api_answers_503_when_the_database_is_down(
    clean_app: FastAPI, settings: Settings
) -> None:
    down = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/x"}
    )
    async with (
        running_app(down) as application,
        client_for(application, raise_app_exceptions=False) as http,
    ):
        response = await http.post(
            "/auth/login", json={"email": "someone@example.com", "password": "password1"}
        )
        assert response.status_code == 503
        assert response.json()["code"] == "service_unavailable"
        assert "Retry-After" in response.headers
        assert "Traceback" not in response.text and "127.0.0.1" not in response.text
