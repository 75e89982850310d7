"""Reading a quiz costs the same few statements for 2 questions as for 100."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.factories import Factory
from tests.quizzes.helpers import quiz_body

# auth, quiz + caller's role, version + questions + answers
MAX_STATEMENTS = 4


async def _quiz_of(
    client: AsyncClient, factory: Factory, questions: int
) -> tuple[int, dict[str, str]]:
    owner = await factory.user()
    company = await factory.company(owner)
    headers = await factory.headers(owner)
    response = await client.post(
        f"/companies/{company.id}/quizzes", json=quiz_body(questions, answers=4), headers=headers
    )
    assert response.status_code == 201
    return response.json()["id"], headers


@pytest.mark.parametrize("path", ["/quizzes/{id}", "/quizzes/{id}/admin"])
async def test_reading_a_quiz_is_constant(
    client: AsyncClient, factory: Factory, count_statements, path: str
) -> None:
    counts = {}
    for size in (2, 100):
        quiz_id, headers = await _quiz_of(client, factory, size)
        with count_statements as counter:
            response = await client.get(path.format(id=quiz_id), headers=headers)
        assert response.status_code == 200
        assert len(response.json()["questions"]) == size
        counts[size] = counter.count
    assert counts[2] == counts[100], counts
    assert counts[100] <= MAX_STATEMENTS, count_statements.statements


async def test_creating_and_replacing_a_quiz_is_constant(
    client: AsyncClient, factory: Factory, count_statements
) -> None:
    counts = {}
    for size in (2, 100):
        owner = await factory.user()
        company = await factory.company(owner, members=[await factory.user() for _ in range(3)])
        headers = await factory.headers(owner)
        with count_statements as counter:
            created = await client.post(
                f"/companies/{company.id}/quizzes", json=quiz_body(size), headers=headers
            )
            replaced = await client.put(
                f"/quizzes/{created.json()['id']}", json=quiz_body(size), headers=headers
            )
        assert created.status_code == 201
        assert replaced.status_code == 200
        counts[size] = counter.count
    assert counts[2] == counts[100], counts
    # create: auth, company, quiz, version, questions, answers, recipients, notifications,
    # read back; replace: auth, quiz, bump, version, questions, answers, read back
    assert counts[100] <= 16, count_statements.statements


async def test_listing_quizzes_is_constant(
    client: AsyncClient, factory: Factory, count_statements
) -> None:
    owner = await factory.user()
    company = await factory.company(owner)
    headers = await factory.headers(owner)
    for _ in range(25):
        await factory.quiz(company)
    with count_statements as counter:
        response = await client.get(
            f"/companies/{company.id}/quizzes", params={"limit": 100}, headers=headers
        )
    assert len(response.json()["items"]) == 25
    # auth, company + role, count, page
    assert counter.count <= 4, counter.statements
