from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.config import Settings
from qoach.models import AuthSession
from tests.auth.helpers import bearer, client_for, running_app
from tests.factories import PASSWORD, Factory


async def test_json_login_returns_token_pair(
    client: AsyncClient, factory: Factory, db: AsyncSession, settings: Settings
) -> None:
    user = await factory.user(email="login@example.com")
    response = await client.post(
        "/auth/login", json={"email": "login@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_expire_minutes * 60

    refresh_claims = jwt.decode(
        body["refresh_token"], settings.refresh_secret_key, algorithms=["HS256"], issuer="qoach"
    )
    rows = (await db.scalars(select(AuthSession).where(AuthSession.user_id == user.id))).all()
    assert len(rows) == 1
    assert rows[0].id == refresh_claims["sid"]
    assert rows[0].refresh_jti == refresh_claims["jti"]
    assert rows[0].revoked_at is None
    await db.commit()

    me = await client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == user.id


async def test_each_login_is_its_own_session(
    client: AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    user = await factory.user(email="twice@example.com")
    for _ in range(2):
        response = await client.post(
            "/auth/login", json={"email": "twice@example.com", "password": PASSWORD}
        )
        assert response.status_code == 200
    count = await db.scalar(
        select(func.count()).select_from(AuthSession).where(AuthSession.user_id == user.id)
    )
    assert count == 2


async def test_oauth2_form_login(client: AsyncClient, factory: Factory) -> None:
    await factory.user(email="form@example.com")
    response = await client.post(
        "/auth/login",
        data={"grant_type": "password", "username": "Form@Example.com", "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"
    me = await client.get("/auth/me", headers=bearer(response.json()["access_token"]))
    assert me.json()["email"] == "form@example.com"


async def test_multipart_form_login(client: AsyncClient, factory: Factory) -> None:
    await factory.user(email="multi@example.com")
    response = await client.post(
        "/auth/login",
        files={"username": (None, "multi@example.com"), "password": (None, PASSWORD)},
    )
    assert response.status_code == 200, response.text


async def test_login_openapi_declares_json_and_form(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    content = spec["paths"]["/auth/login"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(content)
    assert set(content["application/x-www-form-urlencoded"]["schema"]["required"]) == {
        "username",
        "password",
    }
    assert set(spec["paths"]["/auth/login"]["post"]["responses"]) >= {"200", "401", "422", "429"}


async def test_form_without_password_is_422(client: AsyncClient) -> None:
    response = await client.post("/auth/login", data={"username": "someone@example.com"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


@pytest.mark.parametrize(
    "payload",
    [{"email": "a@example.com"}, {"password": "x"}, {"email": "", "password": "x"}, {}],
)
async def test_json_login_invalid_is_422(client: AsyncClient, payload: dict[str, Any]) -> None:
    response = await client.post("/auth/login", json=payload)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_login_extra_json_field_is_422(client: AsyncClient) -> None:
    response = await client.post(
        "/auth/login", json={"email": "a@example.com", "password": "x", "remember": True}
    )
    assert response.status_code == 422


async def test_login_malformed_json_or_other_media_type_is_422(client: AsyncClient) -> None:
    broken = await client.post(
        "/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["code"] == "validation_error"
    text = await client.post(
        "/auth/login", content=b"email=a", headers={"Content-Type": "text/plain"}
    )
    assert text.status_code == 422
    assert text.json()["code"] == "validation_error"


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: AsyncClient, factory: Factory
) -> None:
    await factory.user(email="known@example.com")
    wrong = await client.post(
        "/auth/login", json={"email": "known@example.com", "password": "not-the-password"}
    )
    unknown = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "detail": "Incorrect email or password",
            "code": "invalid_credentials",
        }
    )
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


async def test_user_without_password_cannot_log_in(client: AsyncClient, factory: Factory) -> None:
    await factory.user(email="auth0only@example.com", password_hash=None)
    for password in (PASSWORD, "", "anything"):
        response = await client.post(
            "/auth/login", json={"email": "auth0only@example.com", "password": password or "x"}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"


# --- rate limiting -----------------------------------------------------------


async def _fail(http: AsyncClient, email: str) -> int:
    response = await http.post("/auth/login", json={"email": email, "password": "wrong-one"})
    return response.status_code


async def test_account_limit_blocks_even_the_right_password(
    clean_app, factory: Factory, settings: Settings
) -> None:
    await factory.user(email="victim@example.com")
    await factory.user(email="bystander@example.com")
    limited = settings.model_copy(
        update={"login_max_failures_per_account": 3, "login_max_failures_per_address": 100}
    )
    async with running_app(limited) as application, client_for(application) as http:
        assert [await _fail(http, "VICTIM@example.com") for _ in range(3)] == [401] * 3
        blocked = await http.post(
            "/auth/login", json={"email": "victim@example.com", "password": PASSWORD}
        )
        assert blocked.status_code == 429
        assert blocked.json()["code"] == "rate_limited"
        retry_after = int(blocked.headers["Retry-After"])
        assert 1 <= retry_after <= settings.login_failure_window_seconds
        # the form login is the same endpoint and the same counter
        form = await http.post(
            "/auth/login", data={"username": "victim@example.com", "password": PASSWORD}
        )
        assert form.status_code == 429
        # another account from the same address is not affected
        other = await http.post(
            "/auth/login", json={"email": "bystander@example.com", "password": PASSWORD}
        )
        assert other.status_code == 200
        # from another address the account is still blocked
        async with client_for(application, "10.1.2.3") as elsewhere:
            again = await elsewhere.post(
                "/auth/login", json={"email": "victim@example.com", "password": PASSWORD}
            )
            assert again.status_code == 429


async def test_address_limit_blocks_every_account_from_it(
    clean_app, factory: Factory, settings: Settings
) -> None:
    await factory.user(email="real@example.com")
    limited = settings.model_copy(
        update={"login_max_failures_per_account": 100, "login_max_failures_per_address": 3}
    )
    async with running_app(limited) as application:
        async with client_for(application, "10.9.9.9") as attacker:
            statuses = [await _fail(attacker, f"guess{i}@example.com") for i in range(3)]
            assert statuses == [401, 401, 401]
            blocked = await attacker.post(
                "/auth/login", json={"email": "real@example.com", "password": PASSWORD}
            )
            assert blocked.status_code == 429
            assert "Retry-After" in blocked.headers
        async with client_for(application, "10.8.8.8") as someone_else:
            ok = await someone_else.post(
                "/auth/login", json={"email": "real@example.com", "password": PASSWORD}
            )
            assert ok.status_code == 200


async def test_success_does_not_reset_the_account_count(
    clean_app, factory: Factory, settings: Settings
) -> None:
    await factory.user(email="steady@example.com")
    limited = settings.model_copy(update={"login_max_failures_per_account": 3})
    async with running_app(limited) as application, client_for(application) as http:
        assert await _fail(http, "steady@example.com") == 401
        assert await _fail(http, "steady@example.com") == 401
        ok = await http.post(
            "/auth/login", json={"email": "steady@example.com", "password": PASSWORD}
        )
        assert ok.status_code == 200
        assert await _fail(http, "steady@example.com") == 401
        assert await _fail(http, "steady@example.com") == 429


async def test_limit_lifts_when_the_window_passes(
    clean_app, factory: Factory, settings: Settings
) -> None:
    await factory.user(email="patient@example.com")
    limited = settings.model_copy(
        update={"login_max_failures_per_account": 1, "login_failure_window_seconds": 1}
    )
    async with running_app(limited) as application, client_for(application) as http:
        assert await _fail(http, "patient@example.com") == 401
        assert await _fail(http, "patient@example.com") == 429
        await asyncio.sleep(2.1)
        ok = await http.post(
            "/auth/login", json={"email": "patient@example.com", "password": PASSWORD}
        )
        assert ok.status_code == 200


async def test_default_limits_are_in_force(client: AsyncClient, factory: Factory) -> None:
    """Defaults: 10 failures per account in 15 minutes."""
    await factory.user(email="default@example.com")
    statuses = [await _fail(client, "default@example.com") for _ in range(11)]
    assert statuses == [401] * 10 + [429]


async def test_login_fails_open_when_the_broker_is_down(
    clean_app, factory: Factory, settings: Settings
) -> None:
    await factory.user(email="open@example.com")
    broken = settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0", "login_max_failures_per_account": 1}
    )
    async with running_app(broken) as application, client_for(application) as http:
        assert await _fail(http, "open@example.com") == 401
        assert await _fail(http, "open@example.com") == 401  # not counted: no 429
        ok = await http.post(
            "/auth/login", json={"email": "open@example.com", "password": PASSWORD}
        )
        assert ok.status_code == 200
