"""Editing a quiz never changes a past attempt; new attempts use the new version."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Attempt, AttemptAnswer
from tests.attempts.test_attempts_api import admin_view, ids
from tests.factories import Factory
from tests.quizzes.helpers import World, quiz_body


async def test_put_after_attempts_leaves_them_unchanged(
    client: AsyncClient, world: World, factory: Factory, db: AsyncSession
) -> None:
    single, multi = (await admin_view(client, world))["questions"]
    submitted = await client.post(
        f"/quizzes/{world.quiz.id}/attempts",
        json={
            "answers": [
                {"question_id": single["id"], "answer_ids": ids(single, "Yes")},
                {"question_id": multi["id"], "answer_ids": ids(multi, "A")},
            ]
        },
        headers=world.h("member"),
    )
    assert submitted.status_code == 201
    before = submitted.json()
    assert (before["correct_count"], before["score"], before["quiz_version"]) == (1, 0.5, 1)
    seeded = await factory.attempt(world.quiz, world.admin, correct=[True, True])

    # a whole new definition: other questions, and "Yes" is now wrong
    body = quiz_body(3)
    body["questions"][0] = {
        "text": "Single?",
        "answers": [{"text": "Yes", "is_correct": False}, {"text": "No", "is_correct": True}],
    }
    edited = await client.put(f"/quizzes/{world.quiz.id}", json=body, headers=world.h("owner"))
    assert edited.status_code == 200
    assert edited.json()["version"] == 2
    new_questions = edited.json()["questions"]

    # the earlier attempts read exactly as before
    after = await client.get(f"/attempts/{before['id']}", headers=world.h("member"))
    assert after.status_code == 200
    assert after.json() == before
    assert [r["question_id"] for r in after.json()["results"]] == [single["id"], multi["id"]]
    staff_view = await client.get(f"/attempts/{seeded.id}", headers=world.h("owner"))
    assert staff_view.json()["quiz_version"] == 1
    assert staff_view.json()["correct_count"] == 2
    assert staff_view.json()["score"] == 1.0
    history = await client.get("/users/me/attempts", headers=world.h("member"))
    assert history.json()["items"] == [before]

    # the stored rows are untouched
    row = await db.get(Attempt, before["id"])
    assert row is not None
    assert (row.quiz_version, row.correct_count, row.question_count) == (1, 1, 2)
    masks = (
        await db.execute(
            select(AttemptAnswer.question_id, AttemptAnswer.selected_mask, AttemptAnswer.is_correct)
            .where(AttemptAnswer.attempt_id == before["id"])
            .order_by(AttemptAnswer.question_id)
        )
    ).all()
    assert [tuple(m) for m in masks] == [(single["id"], 0b1, True), (multi["id"], 0b1, False)]
    await db.commit()

    # the old question ids are refused now ...
    stale = await client.post(
        f"/quizzes/{world.quiz.id}/attempts",
        json={"answers": [{"question_id": single["id"], "answer_ids": ids(single, "Yes")}]},
        headers=world.h("member"),
    )
    assert stale.status_code == 422
    assert ["body", "answers", 0, "question_id"] in [e["loc"] for e in stale.json()["detail"]]
    # ... and so are the new question with an old answer id
    mixed = await client.post(
        f"/quizzes/{world.quiz.id}/attempts",
        json={
            "answers": [{"question_id": new_questions[0]["id"], "answer_ids": ids(single, "No")}]
        },
        headers=world.h("member"),
    )
    assert mixed.status_code == 422
    assert ["body", "answers", 0, "answer_ids", 0] in [e["loc"] for e in mixed.json()["detail"]]

    # a new attempt is scored against version 2
    fresh = await client.post(
        f"/quizzes/{world.quiz.id}/attempts",
        json={
            "answers": [
                {"question_id": new_questions[0]["id"], "answer_ids": ids(new_questions[0], "Yes")},
                {
                    "question_id": new_questions[1]["id"],
                    "answer_ids": ids(new_questions[1], "Answer 2.1"),
                },
            ]
        },
        headers=world.h("member"),
    )
    assert fresh.status_code == 201, fresh.text
    attempt = fresh.json()
    assert attempt["quiz_version"] == 2
    assert attempt["question_count"] == 3
    assert [r["is_correct"] for r in attempt["results"]] == [False, True, False]
    assert [r["question_id"] for r in attempt["results"]] == [q["id"] for q in new_questions]


async def test_patch_keeps_the_version_and_the_question_ids(
    client: AsyncClient, world: World
) -> None:
    single, _ = (await admin_view(client, world))["questions"]
    patched = await client.patch(
        f"/quizzes/{world.quiz.id}", json={"title": "Renamed"}, headers=world.h("admin")
    )
    assert patched.json()["version"] == 1
    response = await client.post(
        f"/quizzes/{world.quiz.id}/attempts",
        json={"answers": [{"question_id": single["id"], "answer_ids": ids(single, "Yes")}]},
        headers=world.h("member"),
    )
    assert response.status_code == 201
    assert response.json()["quiz_version"] == 1
