from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.auth.helpers import (
    bearer,
    fetch_session_row,
    login,
    session_revoked_message,
    user_topic_messages,
)
from tests.factories import PASSWORD, Factory


async def test_logout_ends_that_login(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app
) -> None:
    user = await factory.user(email="bye@example.com")
    pair = await login(client, "bye@example.com", PASSWORD)
    other = await login(client, "bye@example.com", PASSWORD)
    async with user_topic_messages(clean_app.state.broker, user.id) as messages:
        response = await client.post(
            "/auth/logout",
            json={"refresh_token": pair["refresh_token"]},
            headers=bearer(pair["access_token"]),
        )
        assert response.status_code == 204
        assert response.content == b""
        event = await session_revoked_message(messages)
    assert len(event["data"]["session_ids"]) == 1
    row = await fetch_session_row(db, event["data"]["session_ids"][0])
    assert row.revoked_at is not None

    assert (await client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 401
    refreshed = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401
    # the user's other login still works
    assert (await client.get("/auth/me", headers=bearer(other["access_token"]))).status_code == 200


async def test_logout_of_another_own_login(client: AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    access, _, _ = await factory.tokens(user)
    other_access, other_refresh, _ = await factory.tokens(user)
    response = await client.post(
        "/auth/logout", json={"refresh_token": other_refresh}, headers=bearer(access)
    )
    assert response.status_code == 204
    assert (await client.get("/auth/me", headers=bearer(other_access))).status_code == 401
    assert (await client.get("/auth/me", headers=bearer(access))).status_code == 200


async def test_logout_twice_is_idempotent(client: AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    access, refresh, _ = await factory.tokens(user)
    other_access, _, _ = await factory.tokens(user)
    first = await client.post(
        "/auth/logout", json={"refresh_token": refresh}, headers=bearer(access)
    )
    assert first.status_code == 204
    second = await client.post(
        "/auth/logout", json={"refresh_token": refresh}, headers=bearer(other_access)
    )
    assert second.status_code == 204


async def test_logout_requires_a_token(client: AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    _, refresh, _ = await factory.tokens(user)
    response = await client.post("/auth/logout", json={"refresh_token": refresh})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    # nothing was revoked
    assert (await client.post("/auth/refresh", json={"refresh_token": refresh})).status_code == 200


async def test_cannot_log_out_another_users_login(
    client: AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    me = await factory.user()
    them = await factory.user()
    my_access, _, _ = await factory.tokens(me)
    their_access, their_refresh, their_session = await factory.tokens(them)
    response = await client.post(
        "/auth/logout", json={"refresh_token": their_refresh}, headers=bearer(my_access)
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert (await fetch_session_row(db, their_session.id)).revoked_at is None
    assert (await client.get("/auth/me", headers=bearer(their_access))).status_code == 200


async def test_logout_with_an_invalid_refresh_token(client: AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    access, _, _ = await factory.tokens(user)
    for token in ("garbage", access):
        response = await client.post(
            "/auth/logout", json={"refresh_token": token}, headers=bearer(access)
        )
        assert response.status_code == 401
    assert (await client.get("/auth/me", headers=bearer(access))).status_code == 200
    missing = await client.post("/auth/logout", json={}, headers=bearer(access))
    assert missing.status_code == 422


async def test_me(client: AsyncClient, factory: Factory) -> None:
    user = await factory.user(email="me@example.com", first_name="Grace", last_name="Hopper")
    response = await client.get("/auth/me", headers=await factory.headers(user))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == user.id
    assert body["email"] == "me@example.com"
    assert body["first_name"] == "Grace" and body["last_name"] == "Hopper"
    assert set(body) == {"id", "email", "first_name", "last_name", "created_at"}
    assert body["created_at"].endswith(("Z", "+00:00"))


async def test_me_anonymous_is_401(client: AsyncClient) -> None:
    response = await client.get("/auth/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated", "code": "not_authenticated"}
