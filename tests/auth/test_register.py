from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import User


async def test_register_creates_user(client: AsyncClient, db: AsyncSession) -> None:
    response = await client.post(
        "/auth/register",
        json={
            "email": "Ada.Lovelace@Example.COM",
            "password": "correct horse",
            "first_name": "Ada",
            "last_name": "Lovelace",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "email", "first_name", "last_name", "created_at"}
    assert body["email"] == "ada.lovelace@example.com"
    assert body["first_name"] == "Ada"
    assert body["last_name"] == "Lovelace"
    assert datetime.fromisoformat(body["created_at"]).utcoffset() == timedelta(0)
    user = await db.get(User, body["id"])
    assert user is not None
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in response.text


async def test_register_names_are_optional(client: AsyncClient) -> None:
    response = await client.post(
        "/auth/register", json={"email": "plain@example.com", "password": "12345678"}
    )
    assert response.status_code == 201
    assert response.json()["first_name"] is None
    assert response.json()["last_name"] is None


async def test_register_duplicate_email_any_case_is_409(
    client: AsyncClient, db: AsyncSession
) -> None:
    first = await client.post(
        "/auth/register", json={"email": "dup@example.com", "password": "password1"}
    )
    assert first.status_code == 201
    second = await client.post(
        "/auth/register", json={"email": "DUP@Example.com", "password": "password2"}
    )
    assert second.status_code == 409
    assert second.json() == {
        "detail": "A user with this email already exists",
        "code": "email_taken",
    }
    count = await db.scalar(select(func.count()).select_from(User))
    assert count == 1


async def test_login_takes_any_case(client: AsyncClient) -> None:
    await client.post("/auth/register", json={"email": "Case@Example.com", "password": "password1"})
    response = await client.post(
        "/auth/login", json={"email": "CASE@EXAMPLE.COM", "password": "password1"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("length", [8, 128])
async def test_register_password_length_bounds_accepted(client: AsyncClient, length: int) -> None:
    response = await client.post(
        "/auth/register", json={"email": f"len{length}@example.com", "password": "p" * length}
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "short@example.com", "password": "p" * 7},
        {"email": "long@example.com", "password": "p" * 129},
        {"email": "not-an-email", "password": "password1"},
        {"password": "password1"},
        {"email": "nopass@example.com"},
        {"email": "name@example.com", "password": "password1", "first_name": "x" * 101},
        {"email": "name@example.com", "password": "password1", "last_name": "x" * 101},
        {"email": "extra@example.com", "password": "password1", "is_admin": True},
        {"email": "extra@example.com", "password": "password1", "id": 5},
    ],
)
async def test_register_invalid_input_is_422(client: AsyncClient, payload: dict[str, Any]) -> None:
    response = await client.post("/auth/register", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert isinstance(body["detail"], list) and body["detail"]


async def test_register_names_of_100_chars_accepted(client: AsyncClient) -> None:
    response = await client.post(
        "/auth/register",
        json={
            "email": "hundred@example.com",
            "password": "password1",
            "first_name": "f" * 100,
            "last_name": "l" * 100,
        },
    )
    assert response.status_code == 201
