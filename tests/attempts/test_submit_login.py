"""Submitting checks the login inside its own query: logged out or expired is 401."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Attempt, AuthSession, User
from tests.attempts.test_attempts_api import admin_view, ids, submit
from tests.auth.test_auth0 import (  # noqa: F401  (fixtures)
    SigningKey,
    auth0_app,
    claims,
    http,
    jwks,
    jwks_server,
    signing_keys,
)
from tests.factories import Factory
from tests.quizzes.helpers import World


async def _answers(client: AsyncClient, world: World) -> list[dict[str, Any]]:
    single, multi = (await admin_view(client, world))["questions"]
    return [
        {"question_id": single["id"], "answer_ids": ids(single, "Yes")},
        {"question_id": multi["id"], "answer_ids": ids(multi, "A", "C")},
    ]


async def _attempts(db: AsyncSession) -> int:
    count = await db.scalar(select(func.count()).select_from(Attempt))
    await db.commit()  # end the read (SQLite takes its write lock at BEGIN)
    return int(count or 0)


@pytest.mark.parametrize(
    "change",
    [
        {"revoked_at": datetime.now(UTC)},
        {"expires_at": datetime.now(UTC) - timedelta(seconds=1)},
    ],
    ids=["logged-out", "expired"],
)
async def test_a_dead_login_cannot_submit(
    client: AsyncClient, world: World, db: AsyncSession, change: dict[str, datetime]
) -> None:
    answers = await _answers(client, world)
    # once with a key: the process then knows the quiz's version (one statement)
    keyed = {"Idempotency-Key": "first"}
    assert (await submit(client, world, answers, headers=keyed)).status_code == 201
    await db.execute(update(AuthSession).where(AuthSession.user_id == world.member.id), change)
    await db.commit()
    for headers in ({}, keyed, {"Idempotency-Key": "second"}):
        response = await submit(client, world, answers, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "not_authenticated"
    # a quiz that does not exist is 401 too: the login comes first
    missing = await submit(client, world, answers, quiz_id=987654)
    assert missing.status_code == 401
    assert await _attempts(db) == 1
    # the other members' logins still work
    assert (await submit(client, world, [], role="admin")).status_code == 201


async def test_a_deleted_user_cannot_submit(
    client: AsyncClient, world: World, db: AsyncSession
) -> None:
    answers = await _answers(client, world)
    assert (await submit(client, world, answers)).status_code == 201
    user = await db.get(User, world.member.id)
    await db.delete(user)
    await db.commit()
    response = await submit(client, world, answers)
    assert response.status_code == 401
    assert await _attempts(db) == 0  # their attempts went with them


async def test_an_auth0_member_submits(
    http: AsyncClient,  # noqa: F811
    factory: Factory,
    signing_keys: dict[str, SigningKey],  # noqa: F811
    db: AsyncSession,
) -> None:
    """Auth0 callers have no login row: the token alone names them."""
    owner = await factory.user()
    alice = await factory.user(email="alice@example.com")
    company = await factory.company(owner, members=[alice])
    quiz = await factory.quiz(company)
    outsiders_quiz = await factory.quiz(await factory.company())
    token = {"Authorization": f"Bearer {signing_keys['key-1'].sign(claims())}"}
    for _ in range(2):  # the second one with the version known
        response = await http.post(
            f"/quizzes/{quiz.id}/attempts", json={"answers": []}, headers=token
        )
        assert response.status_code == 201, response.text
        assert response.json()["user_id"] == alice.id
    other = await http.post(
        f"/quizzes/{outsiders_quiz.id}/attempts", json={"answers": []}, headers=token
    )
    assert other.status_code == 404
    assert await _attempts(db) == 2
