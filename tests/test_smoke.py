from __future__ import annotations

from httpx import AsyncClient

from tests.factories import Factory


async def test_liveness(client: AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_factory_and_token(client: AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    company = await factory.company(user)
    quiz = await factory.quiz(company)
    attempt = await factory.attempt(quiz, user, correct=[True, False])
    assert attempt.correct_count == 1
    headers = await factory.headers(user)
    assert headers["Authorization"].startswith("Bearer ")
