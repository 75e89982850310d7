"""`Idempotency-Key`: a retried submission returns the first attempt, even when racing."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Attempt, AttemptAnswer
from tests.attempts.test_attempts_api import admin_view, ids
from tests.factories import Factory
from tests.quizzes.helpers import World


async def _answers(client: AsyncClient, world: World) -> list[dict[str, Any]]:
    single, multi = (await admin_view(client, world))["questions"]
    return [
        {"question_id": single["id"], "answer_ids": ids(single, "Yes")},
        {"question_id": multi["id"], "answer_ids": ids(multi, "A", "C")},
    ]


async def _post(
    client: AsyncClient, world: World, answers: list[dict[str, Any]], key: str | None, **kw: Any
):
    headers = {**world.h(kw.get("role", "member"))}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(
        f"/quizzes/{kw.get('quiz_id', world.quiz.id)}/attempts",
        json={"answers": answers},
        headers=headers,
    )


async def _count(db: AsyncSession) -> int:
    count = await db.scalar(select(func.count()).select_from(Attempt))
    await db.commit()  # end the read (SQLite takes its write lock at BEGIN)
    return int(count or 0)


async def test_retry_returns_the_first_attempt(
    client: AsyncClient, world: World, db: AsyncSession
) -> None:
    answers = await _answers(client, world)
    first = await _post(client, world, answers, "key-1")
    assert first.status_code == 201
    # the same submission written differently is the same request
    reordered = [{**item, "answer_ids": item["answer_ids"][::-1]} for item in answers[::-1]]
    for body in (answers, reordered):
        retry = await _post(client, world, body, "key-1")
        assert retry.status_code == 201
        assert retry.json() == first.json()
    assert await _count(db) == 1

    row = await db.get(Attempt, first.json()["id"])
    assert row is not None
    assert row.idempotency_key == "key-1"
    assert row.request_hash is not None and len(row.request_hash) == 64
    int(row.request_hash, 16)
    await db.commit()

    # without a key every submission is a new attempt
    a = await _post(client, world, answers, None)
    b = await _post(client, world, answers, None)
    assert a.json()["id"] != b.json()["id"]
    assert await _count(db) == 3


async def test_same_key_different_body_is_422(
    client: AsyncClient, world: World, factory: Factory, db: AsyncSession
) -> None:
    answers = await _answers(client, world)
    first = await _post(client, world, answers, "k")
    assert first.status_code == 201
    changed = [answers[0], {**answers[1], "answer_ids": answers[1]["answer_ids"][:1]}]
    response = await _post(client, world, changed, "k")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert ["header", "Idempotency-Key"] in [e["loc"] for e in response.json()["detail"]]
    # the same key on another quiz is a different request too
    other = await factory.quiz(world.company)
    response = await _post(client, world, [], "k", quiz_id=other.id)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert await _count(db) == 1


async def test_keys_are_scoped_to_the_user(
    client: AsyncClient, world: World, db: AsyncSession
) -> None:
    answers = await _answers(client, world)
    mine = await _post(client, world, answers, "shared", role="member")
    theirs = await _post(client, world, answers, "shared", role="admin")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["user_id"] == world.admin.id
    assert await _count(db) == 2


async def test_key_length_limits(client: AsyncClient, world: World) -> None:
    assert (await _post(client, world, [], "k" * 255)).status_code == 201
    too_long = await _post(client, world, [], "k" * 256)
    assert too_long.status_code == 422
    assert ["header", "Idempotency-Key"] in [e["loc"] for e in too_long.json()["detail"]]
    assert (await _post(client, world, [], "")).status_code == 422


async def test_retry_after_the_quiz_changed_still_returns_the_first(
    client: AsyncClient, world: World
) -> None:
    answers = await _answers(client, world)
    first = await _post(client, world, answers, "before-edit")
    from tests.quizzes.helpers import quiz_body

    edited = await client.put(
        f"/quizzes/{world.quiz.id}", json=quiz_body(), headers=world.h("owner")
    )
    assert edited.status_code == 200
    retry = await _post(client, world, answers, "before-edit")
    assert retry.status_code == 201
    assert retry.json() == first.json()


async def test_concurrent_identical_submissions_make_one_attempt(
    client: AsyncClient, world: World, db: AsyncSession
) -> None:
    answers = await _answers(client, world)
    responses = await asyncio.gather(
        *(_post(client, world, answers, "double-click") for _ in range(2))
    )
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert await _count(db) == 1


@pytest.mark.postgres_only
async def test_racing_submissions_both_pass_the_check_and_one_wins(
    client: AsyncClient, world: World, db: AsyncSession, clean_app: FastAPI, count_statements
) -> None:
    """Force the race: both requests find no prior attempt, then collide on the unique index.

    A transaction of the test holds the key (uncommitted), so both requests pass the
    look-up and wait on the index; when it rolls back, one request inserts and the
    other, once the winner commits, inserts nothing (ON CONFLICT DO NOTHING) and
    returns the winner.
    """
    answers = await _answers(client, world)
    version_id = (await db.execute(text("SELECT id FROM quiz_versions"))).scalar_one()
    await db.commit()
    engine = clean_app.state.engine
    async with engine.connect() as blocker:
        await blocker.execute(
            insert(Attempt).values(
                quiz_id=world.quiz.id,
                quiz_version_id=version_id,
                company_id=world.company.id,
                user_id=world.member.id,
                quiz_version=1,
                correct_count=0,
                question_count=2,
                idempotency_key="raced",
                request_hash="0" * 64,
            )
        )
        count_statements.__enter__()
        tasks = [asyncio.create_task(_post(client, world, answers, "raced")) for _ in range(2)]
        async with engine.connect() as probe:
            for _ in range(200):
                waiting = await probe.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
                await probe.commit()  # pg_stat_activity is a snapshot per transaction
                if waiting == 2:
                    break
                await asyncio.sleep(0.05)
            assert waiting == 2, "both submissions should be waiting on the unique index"
        await blocker.rollback()
    first, second = await asyncio.gather(*tasks)
    count_statements.__exit__()
    # the loser's INSERT … ON CONFLICT DO NOTHING skipped the winner's row once it
    # committed (no error, no savepoint to roll back to), then read the winner by key
    assert not any("SAVEPOINT" in s for s in count_statements.statements)
    assert any("ON CONFLICT" in s for s in count_statements.statements)
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert first.json() == second.json()
    assert await _count(db) == 1
    answer_rows = await db.scalar(
        select(func.count()).where(AttemptAnswer.attempt_id == first.json()["id"])
    )
    assert answer_rows == 2


def test_request_hash_is_sha256_of_the_canonical_body() -> None:
    from qoach.attempts.schemas import AttemptCreate
    from qoach.attempts.service import request_hash

    a = AttemptCreate.model_validate(
        {"answers": [{"question_id": 2, "answer_ids": [5, 4]}, {"question_id": 1}]}
    )
    b = AttemptCreate.model_validate(
        {
            "answers": [
                {"question_id": 1, "answer_ids": []},
                {"question_id": 2, "answer_ids": [4, 5]},
            ]
        }
    )
    canonical = b'{"answers":[[1,[]],[2,[4,5]]],"quiz_id":7}'
    assert request_hash(7, a) == request_hash(7, b) == hashlib.sha256(canonical).hexdigest()
    assert request_hash(8, a) != request_hash(7, a)
