from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.auth.tokens import encode_token
from qoach.config import Settings
from qoach.models import AuthSession
from tests.auth.helpers import (
    bearer,
    fetch_session_row,
    session_revoked_message,
    user_topic_messages,
)
from tests.factories import Factory


async def test_refresh_rotates(client: AsyncClient, factory: Factory, db: AsyncSession) -> None:
    user = await factory.user()
    _, refresh, auth_session = await factory.tokens(user)
    old_jti = auth_session.refresh_jti
    response = await client.post("/auth/refresh", json={"refresh_token": refresh})
    assert response.status_code == 200, response.text
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["refresh_token"] != refresh
    me = await client.get("/auth/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == user.id
    row = await fetch_session_row(db, auth_session.id)
    assert row.revoked_at is None
    assert row.refresh_jti != old_jti
    # the new refresh token rotates again
    again = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200


async def test_reusing_a_rotated_token_revokes_the_whole_login(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app
) -> None:
    user = await factory.user()
    old_access, refresh, auth_session = await factory.tokens(user)
    other_access, other_refresh, other_session = await factory.tokens(user)
    first = await client.post("/auth/refresh", json={"refresh_token": refresh})
    assert first.status_code == 200
    new_pair = first.json()

    async with user_topic_messages(clean_app.state.broker, user.id) as messages:
        reuse = await client.post("/auth/refresh", json={"refresh_token": refresh})
        assert reuse.status_code == 401
        assert reuse.json()["code"] == "invalid_token"
        event = await session_revoked_message(messages)
    assert event["data"] == {"session_ids": [auth_session.id]}

    # the revocation was committed although the request answered 401
    assert (await fetch_session_row(db, auth_session.id)).revoked_at is not None
    for token in (old_access, new_pair["access_token"]):
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401
    after = await client.post("/auth/refresh", json={"refresh_token": new_pair["refresh_token"]})
    assert after.status_code == 401

    # another login of the same user is untouched
    assert (await fetch_session_row(db, other_session.id)).revoked_at is None
    assert (await client.get("/auth/me", headers=bearer(other_access))).status_code == 200
    assert (
        await client.post("/auth/refresh", json={"refresh_token": other_refresh})
    ).status_code == 200


async def test_concurrent_refreshes_with_one_token_exactly_one_wins(
    client: AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    user = await factory.user()
    _, refresh, auth_session = await factory.tokens(user)
    responses = await asyncio.gather(
        client.post("/auth/refresh", json={"refresh_token": refresh}),
        client.post("/auth/refresh", json={"refresh_token": refresh}),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 401]
    # the loser presented a token that had just been rotated: that is reuse, so the
    # login ends (strictly as the contract says) and the winner's new pair dies too
    winner = next(r for r in responses if r.status_code == 200).json()
    assert (await fetch_session_row(db, auth_session.id)).revoked_at is not None
    assert (await client.get("/auth/me", headers=bearer(winner["access_token"]))).status_code == 401


async def test_expired_refresh_token_is_401(
    client: AsyncClient, factory: Factory, settings: Settings
) -> None:
    user = await factory.user()
    _, _, auth_session = await factory.tokens(user)
    expired, _ = encode_token(
        settings,
        token_type="refresh",
        user_id=user.id,
        session_id=auth_session.id,
        jti=auth_session.refresh_jti,
        now=datetime.now(UTC) - timedelta(days=settings.refresh_token_expire_days + 1),
    )
    response = await client.post("/auth/refresh", json={"refresh_token": expired})
    assert response.status_code == 401


async def test_refresh_of_an_expired_login_is_401(
    client: AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    user = await factory.user()
    _, refresh, auth_session = await factory.tokens(user)
    await db.execute(
        update(AuthSession)
        .where(AuthSession.id == auth_session.id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await db.commit()
    response = await client.post("/auth/refresh", json={"refresh_token": refresh})
    assert response.status_code == 401


async def test_token_types_are_not_interchangeable(
    client: AsyncClient, factory: Factory, settings: Settings
) -> None:
    user = await factory.user()
    access, refresh, auth_session = await factory.tokens(user)
    as_refresh = await client.post("/auth/refresh", json={"refresh_token": access})
    assert as_refresh.status_code == 401
    as_access = await client.get("/auth/me", headers=bearer(refresh))
    assert as_access.status_code == 401
    # signed with the refresh key but claiming to be an access token, and vice versa
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": "qoach",
        "sub": str(user.id),
        "sid": auth_session.id,
        "jti": auth_session.refresh_jti,
        "iat": now,
        "exp": now + 600,
    }
    typ_access = jwt.encode(
        {**claims, "typ": "access"}, settings.refresh_secret_key, algorithm="HS256"
    )
    assert (
        await client.post("/auth/refresh", json={"refresh_token": typ_access})
    ).status_code == 401
    assert (await client.get("/auth/me", headers=bearer(typ_access))).status_code == 401
    typ_refresh = jwt.encode({**claims, "typ": "refresh"}, settings.secret_key, algorithm="HS256")
    assert (
        await client.post("/auth/refresh", json={"refresh_token": typ_refresh})
    ).status_code == 401
    assert (await client.get("/auth/me", headers=bearer(typ_refresh))).status_code == 401


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_forged_refresh_tokens_are_401(
    client: AsyncClient, factory: Factory, settings: Settings
) -> None:
    user = await factory.user()
    _, _, auth_session = await factory.tokens(user)
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": "qoach",
        "sub": str(user.id),
        "sid": auth_session.id,
        "typ": "refresh",
        "jti": auth_session.refresh_jti,
        "iat": now,
        "exp": now + 600,
    }
    forged = [
        "garbage",
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        jwt.encode(claims, "some-other-secret-that-is-long-enough-123", algorithm="HS256"),
        jwt.encode({**claims, "iss": "evil"}, settings.refresh_secret_key, algorithm="HS256"),
        jwt.encode({**claims, "sub": str(user.id + 1)}, settings.refresh_secret_key, "HS256"),
    ]
    for token in forged:
        response = await client.post("/auth/refresh", json={"refresh_token": token})
        assert response.status_code == 401, token
        assert response.json()["code"] == "invalid_token"


async def test_refresh_after_logout_is_401(client: AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    access, refresh, _ = await factory.tokens(user)
    out = await client.post("/auth/logout", json={"refresh_token": refresh}, headers=bearer(access))
    assert out.status_code == 204
    response = await client.post("/auth/refresh", json={"refresh_token": refresh})
    assert response.status_code == 401


async def test_refresh_body_is_validated(client: AsyncClient) -> None:
    assert (await client.post("/auth/refresh", json={})).status_code == 422
    extra = await client.post("/auth/refresh", json={"refresh_token": "x", "user_id": 1})
    assert extra.status_code == 422
    assert extra.json()["code"] == "validation_error"
