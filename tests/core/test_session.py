"""One transaction per request: committed before the response, side effects after it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select

from qoach.db.session import SessionDep, after_commit
from qoach.errors import NotFound
from qoach.main import install_error_handlers
from qoach.models import User

effects: list[str] = []


@pytest.fixture
async def mini(clean_app: FastAPI) -> AsyncIterator[AsyncClient]:
    app = FastAPI()
    app.state.sessionmaker = clean_app.state.sessionmaker
    install_error_handlers(app)

    @app.post("/users/{email}", status_code=201)
    async def create(email: str, session: SessionDep) -> dict[str, str]:
        session.add(User(email=email))

        async def effect() -> None:
            effects.append(email)

        after_commit(session, effect)
        return {"email": email}

    @app.post("/fail/{email}")
    async def fail(email: str, session: SessionDep) -> None:
        session.add(User(email=email))
        await session.flush()

        async def effect() -> None:
            effects.append("never")

        after_commit(session, effect)
        raise NotFound("nope")

    effects.clear()
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        yield client


async def _count(clean_app: FastAPI) -> int:
    async with clean_app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_commit_happens_before_the_response(mini: AsyncClient, clean_app: FastAPI) -> None:
    response = await mini.post("/users/a@example.com")
    assert response.status_code == 201
    assert await _count(clean_app) == 1
    assert effects == ["a@example.com"]


async def test_unique_violation_at_commit_is_409_not_500(
    mini: AsyncClient, clean_app: FastAPI
) -> None:
    assert (await mini.post("/users/b@example.com")).status_code == 201
    response = await mini.post("/users/b@example.com")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert await _count(clean_app) == 1
    assert effects == ["b@example.com"]


async def test_error_rolls_back_and_drops_side_effects(
    mini: AsyncClient, clean_app: FastAPI
) -> None:
    response = await mini.post("/fail/c@example.com")
    assert response.status_code == 404
    assert response.json() == {"detail": "nope", "code": "not_found"}
    assert await _count(clean_app) == 0
    assert effects == []
