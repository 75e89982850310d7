"""Every error has the `{"detail", "code"}` shape and never a stack trace."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import FastAPI
from httpx import AsyncClient

from qoach.config import Settings
from tests.auth.helpers import client_for


async def test_missing_token_is_401_with_the_error_shape(client: AsyncClient) -> None:
    response = await client.get("/auth/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated", "code": "not_authenticated"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_garbage_tokens_are_401_with_the_error_shape(client: AsyncClient) -> None:
    for header in (
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer " + "x" * 9000,
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ):
        response = await client.get("/auth/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        body = response.json()
        assert set(body) == {"detail", "code"}
        assert body["code"] == "not_authenticated"
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_validation_error_shape(client: AsyncClient) -> None:
    response = await client.post("/auth/register", json={"email": "nope", "password": "x"})
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == "validation_error"
    assert isinstance(body["detail"], list)
    locs = {tuple(error["loc"]) for error in body["detail"]}
    assert ("body", "email") in locs and ("body", "password") in locs
    for error in body["detail"]:
        assert {"type", "loc", "msg"} <= set(error)


async def test_malformed_json_is_422(client: AsyncClient) -> None:
    response = await client.post(
        "/auth/register", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_unknown_route_is_404_with_the_error_shape(client: AsyncClient) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "code": "not_found"}


async def test_wrong_method_is_405_with_the_error_shape(client: AsyncClient) -> None:
    response = await client.delete("/auth/login")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert set(response.json()) == {"detail", "code"}


async def test_body_over_the_limit_is_413(client: AsyncClient, settings: Settings) -> None:
    payload = json.dumps(
        {"email": "big@example.com", "password": "p" * (settings.max_body_bytes + 10)}
    )
    response = await client.post(
        "/auth/register", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert set(response.json()) == {"detail", "code"}


async def test_streamed_body_over_the_limit_is_413(client: AsyncClient, settings: Settings) -> None:
    """No Content-Length: the cap holds while the body is read."""
    chunk = b"x" * 65536

    async def body() -> AsyncIterator[bytes]:
        yield b'{"email": "big@example.com", "password": "'
        for _ in range(settings.max_body_bytes // len(chunk) + 2):
            yield chunk
        yield b'"}'

    response = await client.post(
        "/auth/login", content=body(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_unhandled_error_is_a_bare_500_without_trace(settings: Settings) -> None:
    from qoach.main import create_app

    application: FastAPI = create_app(settings)

    async def explode() -> None:
        raise RuntimeError("secret internals at /srv/app.py line 42")

    application.add_api_route("/boom", explode)
    async with client_for(application, raise_app_exceptions=False) as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error", "code": "internal_error"}
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_openapi_documents_error_responses(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert "409" in paths["/auth/register"]["post"]["responses"]
    assert "401" in paths["/auth/me"]["get"]["responses"]
    assert "404" in paths["/users/{user_id}"]["get"]["responses"]
    assert "403" in paths["/users/me"]["patch"]["responses"]
    assert "403" in paths["/users/me"]["put"]["responses"]
    assert "429" in paths["/auth/login"]["post"]["responses"]


async def test_validation_errors_never_echo_passwords_or_tokens(client: AsyncClient) -> None:
    secret = "x" * 200  # too long: rejected, and must not come back
    response = await client.post(
        "/auth/register", json={"email": "not-an-email", "password": secret}
    )
    assert response.status_code == 422
    assert secret not in response.text
    response = await client.post("/auth/register", json={"password": secret})
    assert response.status_code == 422
    assert secret not in response.text
    response = await client.post("/auth/refresh", json={"refresh_token": 123, "extra": secret})
    assert response.status_code == 422
