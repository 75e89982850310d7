"""Submitting to a quiz costs the same few statements for 2 questions as for 100."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.factories import Factory
from tests.quizzes.helpers import quiz_body

# auth, quiz + version + role (+ prior keyed attempt), answer key,
# INSERT attempt RETURNING id, one multi-row INSERT of the answers
MAX_STATEMENTS = 5


async def _setup(
    client: AsyncClient, factory: Factory, size: int
) -> tuple[int, Any, list[dict[str, Any]]]:
    owner = await factory.user()
    member = await factory.user()
    company = await factory.company(owner, members=[member])
    created = await client.post(
        f"/companies/{company.id}/quizzes",
        json=quiz_body(size, answers=4),
        headers=await factory.headers(owner),
    )
    quiz = created.json()
    answers = [
        {"question_id": q["id"], "answer_ids": [q["answers"][i % 4]["id"]]}
        for i, q in enumerate(quiz["questions"])
    ]
    return quiz["id"], await factory.headers(member), answers


@pytest.mark.parametrize("with_key", [False, True], ids=["plain", "idempotency-key"])
async def test_submitting_is_constant(
    client: AsyncClient, factory: Factory, count_statements, with_key: bool
) -> None:
    counts = {}
    for size in (2, 100):
        quiz_id, headers, answers = await _setup(client, factory, size)
        if with_key:
            headers = {**headers, "Idempotency-Key": f"k-{size}"}
        with count_statements as counter:
            response = await client.post(
                f"/quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=headers
            )
        assert response.status_code == 201
        assert response.json()["question_count"] == size
        counts[size] = counter.count
        inserts = [s for s in counter.statements if s.lstrip().upper().startswith("INSERT")]
        assert len(inserts) == 2, inserts  # the attempt, then all its answers at once

        if with_key:  # the replay is constant too
            with count_statements as replay:
                again = await client.post(
                    f"/quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=headers
                )
            assert again.json() == response.json()
            assert replay.count <= MAX_STATEMENTS, replay.statements
    assert counts[2] == counts[100], counts
    assert counts[100] <= MAX_STATEMENTS, count_statements.statements


async def test_a_second_submit_to_the_same_version_skips_the_answer_key(
    client: AsyncClient, factory: Factory, count_statements
) -> None:
    quiz_id, headers, answers = await _setup(client, factory, 20)
    first = await client.post(
        f"/quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=headers
    )
    assert first.status_code == 201
    with count_statements as counter:
        again = await client.post(
            f"/quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=headers
        )
    assert again.status_code == 201
    assert again.json()["correct_count"] == first.json()["correct_count"]
    # auth, quiz + version + role, INSERT attempt, INSERT answers: the key is cached
    assert counter.count <= MAX_STATEMENTS - 1, counter.statements
    assert not any("FROM questions" in s for s in counter.statements), counter.statements


async def test_reading_an_attempt_is_constant(
    client: AsyncClient, factory: Factory, count_statements
) -> None:
    counts = {}
    for size in (2, 100):
        quiz_id, headers, answers = await _setup(client, factory, size)
        created = await client.post(
            f"/quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=headers
        )
        with count_statements as counter:
            response = await client.get(f"/attempts/{created.json()['id']}", headers=headers)
        assert len(response.json()["results"]) == size
        counts[size] = counter.count
    assert counts[2] == counts[100] <= 3, counts  # auth, attempt + role, results
