"""Submitting to a quiz costs the same few statements for 2 questions as for 100."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event

from tests import lanes
from tests.factories import Factory
from tests.quizzes.helpers import quiz_body

PG = lanes.LANE == "postgres"
# The login is checked inside the submit query (no auth query of its own).
# First submit to a quiz version in this process. PostgreSQL: the submit statement
# (reads login + quiz + version + role + prior keyed attempt; inserts nothing: no
# answer key known yet), the answer key, the submit statement again (inserts the
# attempt and all its answers). SQLite: login + quiz + version + role, answer key,
# INSERT attempt RETURNING id, one executemany of the answers.
MAX_STATEMENTS = 3 if PG else 4
# Later submits (key and current version cached): PostgreSQL: ONE statement;
# SQLite: the context query, INSERT attempt, INSERT answers.
WARM_STATEMENTS = 1 if PG else 3


def _writes(statements: list[str]) -> list[str]:
    """The statements that write attempts or their answers."""
    return [s for s in statements if "INSERT INTO attempt" in s]


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
        writes = _writes(counter.statements)
        if PG:  # the attempt and all its answers in one statement (run twice when cold)
            assert writes and all("INSERT INTO attempt_answers" in w for w in writes), writes
        else:  # the attempt, then all its answers at once
            assert [w.split("(")[0].split()[-1] for w in writes] == [
                "attempts",
                "attempt_answers",
            ], writes

        if with_key:  # the replay is constant too
            with count_statements as replay:
                again = await client.post(
                    f"/quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=headers
                )
            assert again.json() == response.json()
            # login + context (+ the prior keyed attempt), the attempt, its results
            assert replay.count <= 3, replay.statements
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
    assert again.json()["id"] != first.json()["id"]
    assert counter.count == WARM_STATEMENTS, counter.statements
    assert not any("FROM questions" in s for s in counter.statements), counter.statements


@pytest.mark.postgres_only
async def test_the_one_statement_runs_without_a_transaction(
    client: AsyncClient, factory: Factory, clean_app: FastAPI
) -> None:
    """Atomic alone, so in autocommit: no BEGIN / COMMIT round trips around it."""
    quiz_id, headers, answers = await _setup(client, factory, 20)
    levels: list[object] = []

    def listen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "INSERT INTO attempt_answers" in statement:
            levels.append(conn.get_execution_options().get("isolation_level"))

    engine = clean_app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        for _ in range(2):
            response = await client.post(
                f"/quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=headers
            )
            assert response.status_code == 201
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert levels and set(levels) == {"AUTOCOMMIT"}, levels


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
