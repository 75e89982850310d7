from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import (
    Attempt,
    AuthSession,
    Company,
    Invitation,
    JoinRequest,
    Membership,
    Notification,
    Quiz,
    User,
)
from tests.auth.helpers import (
    bearer,
    fetch_session_row,
    session_revoked_message,
    user_topic_messages,
)
from tests.factories import PASSWORD, Factory


async def _count(db: AsyncSession, model: type, *where: Any) -> int:
    value = await db.scalar(select(func.count()).select_from(model).where(*where))
    await db.commit()
    return int(value or 0)


# --- GET /users ---------------------------------------------------------------


async def test_list_users_anonymous_is_401(client: AsyncClient) -> None:
    assert (await client.get("/users")).status_code == 401


async def test_list_users_is_paginated(client: AsyncClient, factory: Factory) -> None:
    users = [await factory.user() for _ in range(5)]
    headers = await factory.headers(users[0])
    response = await client.get("/users", params={"limit": 2, "offset": 1}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 5 and body["limit"] == 2 and body["offset"] == 1
    assert [item["id"] for item in body["items"]] == [users[1].id, users[2].id]
    assert set(body["items"][0]) == {"id", "email", "first_name", "last_name", "created_at"}
    default = (await client.get("/users", headers=headers)).json()
    assert default["limit"] == 20 and default["offset"] == 0 and len(default["items"]) == 5


async def test_list_users_statement_count_does_not_grow(
    client: AsyncClient, factory: Factory, count_statements: Any
) -> None:
    viewer = await factory.user()
    headers = await factory.headers(viewer)
    with count_statements as few:
        assert (await client.get("/users", headers=headers)).status_code == 200
    for _ in range(15):
        await factory.user()
    with count_statements as many:
        response = await client.get("/users", params={"search": "user"}, headers=headers)
        assert len(response.json()["items"]) == 16
    assert many.count == few.count <= 4


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}])
async def test_list_users_bad_paging_is_422(
    client: AsyncClient, factory: Factory, params: dict[str, Any]
) -> None:
    headers = await factory.headers(await factory.user())
    response = await client.get("/users", params=params, headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_search_matches_names_and_email_case_insensitively(
    client: AsyncClient, factory: Factory
) -> None:
    ada = await factory.user(email="ada@analytical.org", first_name="Ada", last_name="Lovelace")
    alan = await factory.user(email="alan@bletchley.uk", first_name="Alan", last_name="Turing")
    grace = await factory.user(email="grace@navy.mil", first_name="Grace", last_name="Hopper")
    headers = await factory.headers(grace)

    async def ids(search: str) -> list[int]:
        response = await client.get("/users", params={"search": search}, headers=headers)
        assert response.status_code == 200
        assert response.json()["total"] == len(response.json()["items"])
        return [item["id"] for item in response.json()["items"]]

    assert await ids("LOVE") == [ada.id]  # last name
    assert await ids("alan") == [alan.id]  # first name
    assert await ids("BLETCHLEY") == [alan.id]  # email
    assert await ids("ada lovelace") == [ada.id]  # full name
    assert await ids("a") == [ada.id, alan.id, grace.id]
    assert await ids("nobody") == []


async def test_search_treats_like_wildcards_literally(
    client: AsyncClient, factory: Factory
) -> None:
    percent = await factory.user(email="p@example.com", first_name="100%", last_name="Sure")
    under = await factory.user(email="u@example.com", first_name="snake_case", last_name="Fan")
    await factory.user(email="x@example.com", first_name="snakeXcase", last_name="Plain")
    await factory.user(email="y@example.com", first_name="Back", last_name="Sl\\ash")
    headers = await factory.headers(percent)

    async def ids(search: str) -> list[int]:
        response = await client.get("/users", params={"search": search}, headers=headers)
        return [item["id"] for item in response.json()["items"]]

    assert await ids("%") == [percent.id]
    assert await ids("e_c") == [under.id]
    assert await ids("_") == [under.id]
    assert len(await ids("\\")) == 1


# --- GET /users/{id} ------------------------------------------------------------


async def test_get_user(client: AsyncClient, factory: Factory) -> None:
    me = await factory.user()
    other = await factory.user(email="other@example.com", first_name="O", last_name="Ther")
    response = await client.get(f"/users/{other.id}", headers=await factory.headers(me))
    assert response.status_code == 200
    assert response.json()["email"] == "other@example.com"
    assert "password_hash" not in response.json()


async def test_get_unknown_user_is_404(client: AsyncClient, factory: Factory) -> None:
    headers = await factory.headers(await factory.user())
    response = await client.get("/users/999999", headers=headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "User not found", "code": "user_not_found"}
    # ids are 1..2^31-1 everywhere (qoach.params.IdPath): anything else is invalid input
    for bad in ("abc", "0", "-1"):
        assert (await client.get(f"/users/{bad}", headers=headers)).status_code == 422
    assert (await client.get("/users/99999999999999", headers=headers)).status_code == 422


async def test_get_user_anonymous_is_401(client: AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    assert (await client.get(f"/users/{user.id}")).status_code == 401


async def test_users_me_is_the_caller(client: AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    response = await client.get("/users/me", headers=await factory.headers(user))
    assert response.status_code == 200
    assert response.json()["id"] == user.id


# --- PUT / PATCH /users/me ---------------------------------------------------------


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_update_names_partially(client: AsyncClient, factory: Factory, method: str) -> None:
    user = await factory.user(first_name="Old", last_name="Name")
    headers = await factory.headers(user)
    response = await client.request(
        method, "/users/me", json={"first_name": "New"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == "New"
    assert response.json()["last_name"] == "Name"
    cleared = await client.request(method, "/users/me", json={"last_name": None}, headers=headers)
    assert cleared.json() == {**response.json(), "last_name": None}
    unchanged = await client.request(method, "/users/me", json={}, headers=headers)
    assert unchanged.status_code == 200
    assert unchanged.json() == cleared.json()
    me = await client.get("/auth/me", headers=headers)
    assert me.json()["first_name"] == "New"


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "new@example.com"},
        {"id": 1},
        {"role": "admin"},
        {"password_hash": "x"},
        {"first_name": "x" * 101},
        {"password": "short", "current_password": PASSWORD},
        {"password": "p" * 129, "current_password": PASSWORD},
    ],
)
@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_update_invalid_fields_are_422(
    client: AsyncClient, factory: Factory, method: str, payload: dict[str, Any]
) -> None:
    user = await factory.user(email="same@example.com")
    response = await client.request(
        method, "/users/me", json=payload, headers=await factory.headers(user)
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    me = await client.get("/auth/me", headers=await factory.headers(user))
    assert me.json()["email"] == "same@example.com"


async def test_update_anonymous_is_401(client: AsyncClient) -> None:
    for method in ("PATCH", "PUT"):
        response = await client.request(method, "/users/me", json={"first_name": "X"})
        assert response.status_code == 401


@pytest.mark.parametrize("current", [None, "wrong-password"])
async def test_password_change_needs_the_current_password(
    client: AsyncClient, factory: Factory, current: str | None
) -> None:
    user = await factory.user(email="careful@example.com")
    payload: dict[str, Any] = {"password": "brand-new-password", "first_name": "Changed"}
    if current is not None:
        payload["current_password"] = current
    response = await client.patch("/users/me", json=payload, headers=await factory.headers(user))
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_password"
    # nothing changed: the old password still works, the new one does not
    old = await client.post(
        "/auth/login", json={"email": "careful@example.com", "password": PASSWORD}
    )
    assert old.status_code == 200
    me = await client.get("/auth/me", headers=bearer(old.json()["access_token"]))
    assert me.json()["first_name"] != "Changed"


async def test_password_change_ends_every_other_login(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app
) -> None:
    user = await factory.user(email="rotate@example.com")
    access, refresh, current = await factory.tokens(user)
    other_access, other_refresh, other = await factory.tokens(user)
    third_access, _, third = await factory.tokens(user)
    async with user_topic_messages(clean_app.state.broker, user.id) as messages:
        response = await client.put(
            "/users/me",
            json={"password": "brand-new-password", "current_password": PASSWORD},
            headers=bearer(access),
        )
        assert response.status_code == 200, response.text
        event = await session_revoked_message(messages)
    assert sorted(event["data"]["session_ids"]) == sorted([other.id, third.id])

    assert (await fetch_session_row(db, current.id)).revoked_at is None
    assert (await fetch_session_row(db, other.id)).revoked_at is not None
    assert (await client.get("/auth/me", headers=bearer(access))).status_code == 200
    for token in (other_access, third_access):
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401
    assert (
        await client.post("/auth/refresh", json={"refresh_token": other_refresh})
    ).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": refresh})).status_code == 200

    old = await client.post(
        "/auth/login", json={"email": "rotate@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401
    new = await client.post(
        "/auth/login", json={"email": "rotate@example.com", "password": "brand-new-password"}
    )
    assert new.status_code == 200


async def test_user_without_password_cannot_set_one(client: AsyncClient, factory: Factory) -> None:
    user = await factory.user(password_hash=None)
    response = await client.patch(
        "/users/me",
        json={"password": "brand-new-password", "current_password": "anything-at-all"},
        headers=await factory.headers(user),
    )
    assert response.status_code == 403


# --- DELETE /users/me ------------------------------------------------------------


async def test_delete_me_removes_the_account_and_owned_companies(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app
) -> None:
    leaving = await factory.user(email="leaving@example.com")
    stays = await factory.user()
    owned = await factory.company(leaving, members=[stays])
    owned_hidden = await factory.company(leaving, is_visible=False)
    elsewhere = await factory.company(stays, members=[leaving])
    owned_quiz = await factory.quiz(owned)
    other_quiz = await factory.quiz(elsewhere)
    await factory.attempt(owned_quiz, stays)
    await factory.attempt(other_quiz, leaving)
    await factory.attempt(other_quiz, stays)
    db.add_all(
        [
            Invitation(company_id=elsewhere.id, user_id=leaving.id, status="declined"),
            JoinRequest(company_id=elsewhere.id, user_id=leaving.id, status="pending"),
            Notification(user_id=leaving.id, kind="quiz_created", title="hi", payload={}),
            Notification(user_id=stays.id, kind="quiz_created", title="hi", payload={}),
        ]
    )
    await db.commit()
    access, refresh, _ = await factory.tokens(leaving)
    second_access, _, _ = await factory.tokens(leaving)
    stays_headers = await factory.headers(stays)

    async with user_topic_messages(clean_app.state.broker, leaving.id) as messages:
        response = await client.delete("/users/me", headers=bearer(access))
        assert response.status_code == 204
        assert response.content == b""
        event = await session_revoked_message(messages)
    assert event["data"] == {"session_ids": None}

    for token in (access, second_access):
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": refresh})).status_code == 401
    login = await client.post(
        "/auth/login", json={"email": "leaving@example.com", "password": PASSWORD}
    )
    assert login.status_code == 401

    assert await _count(db, User, User.id == leaving.id) == 0
    assert await _count(db, Company, Company.id.in_([owned.id, owned_hidden.id])) == 0
    assert await _count(db, Company, Company.id == elsewhere.id) == 1
    assert await _count(db, Quiz, Quiz.company_id == owned.id) == 0
    assert await _count(db, Quiz, Quiz.id == other_quiz.id) == 1
    assert await _count(db, Membership, Membership.user_id == leaving.id) == 0
    assert await _count(db, Membership, Membership.company_id == owned.id) == 0
    assert await _count(db, Membership, Membership.user_id == stays.id) == 1  # elsewhere
    assert await _count(db, Attempt, Attempt.user_id == leaving.id) == 0
    assert await _count(db, Attempt, Attempt.company_id == owned.id) == 0
    assert await _count(db, Attempt, Attempt.user_id == stays.id) == 1
    assert await _count(db, Invitation, Invitation.user_id == leaving.id) == 0
    assert await _count(db, JoinRequest, JoinRequest.user_id == leaving.id) == 0
    assert await _count(db, Notification, Notification.user_id == leaving.id) == 0
    assert await _count(db, Notification, Notification.user_id == stays.id) == 1
    assert await _count(db, AuthSession, AuthSession.user_id == leaving.id) == 0

    # the remaining user is unaffected
    assert (await client.get("/auth/me", headers=stays_headers)).status_code == 200


async def test_delete_me_anonymous_is_401(client: AsyncClient) -> None:
    assert (await client.delete("/users/me")).status_code == 401


async def test_email_can_be_registered_again_after_delete(
    client: AsyncClient, factory: Factory
) -> None:
    user = await factory.user(email="again@example.com")
    assert (
        await client.delete("/users/me", headers=await factory.headers(user))
    ).status_code == 204
    response = await client.post(
        "/auth/register", json={"email": "again@example.com", "password": "password1"}
    )
    assert response.status_code == 201
