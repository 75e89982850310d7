"""Submitting while the quiz changes under the request (PostgreSQL: real concurrency)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Attempt, Quiz
from tests.attempts.test_attempts_api import admin_view, ids, submit
from tests.quizzes.helpers import World


async def _wait_for_lock_waiters(app: FastAPI, count: int) -> None:
    async with app.state.engine.connect() as probe:
        waiting = 0
        for _ in range(200):
            waiting = await probe.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            await probe.commit()  # pg_stat_activity is a snapshot per transaction
            if waiting == count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{waiting} requests waiting on a lock, expected {count}")


@pytest.mark.postgres_only
@pytest.mark.parametrize("warm", [False, True], ids=["first-submit", "version-known"])
async def test_quiz_deleted_while_submitting_is_409(
    client: AsyncClient, world: World, db: AsyncSession, clean_app: FastAPI, warm: bool
) -> None:
    """The request read the quiz, then its INSERT waits on the deleting transaction.

    When that commits, the foreign key check fails: 409 `quiz_changed`, nothing stored.
    """
    single, multi = (await admin_view(client, world))["questions"]
    answers = [
        {"question_id": single["id"], "answer_ids": ids(single, "Yes")},
        {"question_id": multi["id"], "answer_ids": ids(multi, "A")},
    ]
    if warm:  # the process now knows the current version: the submit is one statement
        assert (await submit(client, world, answers)).status_code == 201
    before = await db.scalar(select(func.count()).select_from(Attempt))
    await db.commit()
    async with clean_app.state.engine.connect() as blocker:
        await blocker.execute(delete(Quiz).where(Quiz.id == world.quiz.id))
        task = asyncio.create_task(submit(client, world, answers))
        await _wait_for_lock_waiters(clean_app, 1)
        await blocker.commit()
    response = await task
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "quiz_changed"
    assert before is not None
    assert await db.scalar(select(func.count()).select_from(Attempt)) == 0
