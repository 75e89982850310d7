"""Submitting, reading and listing attempts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Attempt, AttemptAnswer
from tests.factories import Factory
from tests.quizzes.helpers import World, quiz_body


async def admin_view(
    client: AsyncClient, world: World, quiz_id: int | None = None
) -> dict[str, Any]:
    response = await client.get(
        f"/quizzes/{quiz_id or world.quiz.id}/admin", headers=world.h("owner")
    )
    assert response.status_code == 200
    view: dict[str, Any] = response.json()
    return view


def ids(question: dict[str, Any], *texts: str) -> list[int]:
    by_text = {a["text"]: a["id"] for a in question["answers"]}
    return [by_text[t] for t in texts]


async def submit(
    client: AsyncClient, world: World, answers: list[dict[str, Any]], role: str = "member", **kw
):
    return await client.post(
        f"/quizzes/{kw.pop('quiz_id', world.quiz.id)}/attempts",
        json={"answers": answers},
        headers={**world.h(role), **kw.pop("headers", {})},
    )


async def test_submit_scores_and_stores_every_answer(
    client: AsyncClient, world: World, db: AsyncSession
) -> None:
    quiz = await admin_view(client, world)
    single, multi = quiz["questions"]
    response = await submit(
        client,
        world,
        [
            {"question_id": single["id"], "answer_ids": ids(single, "Yes")},
            {"question_id": multi["id"], "answer_ids": ids(multi, "B", "A")},
        ],
    )
    assert response.status_code == 201, response.text
    attempt = response.json()
    assert set(attempt) == {
        "id",
        "quiz_id",
        "company_id",
        "user_id",
        "quiz_version",
        "correct_count",
        "question_count",
        "score",
        "completed_at",
        "results",
    }
    assert attempt["quiz_id"] == world.quiz.id
    assert attempt["company_id"] == world.company.id
    assert attempt["user_id"] == world.member.id
    assert attempt["quiz_version"] == 1
    assert (attempt["correct_count"], attempt["question_count"], attempt["score"]) == (2, 2, 1.0)
    assert attempt["results"] == [
        {"question_id": single["id"], "is_correct": True},
        {"question_id": multi["id"], "is_correct": True},
    ]
    completed = datetime.fromisoformat(attempt["completed_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - completed).total_seconds()) < 60

    rows = (
        await db.execute(
            select(AttemptAnswer.question_id, AttemptAnswer.selected_mask, AttemptAnswer.is_correct)
            .where(AttemptAnswer.attempt_id == attempt["id"])
            .order_by(AttemptAnswer.question_id)
        )
    ).all()
    assert [tuple(r) for r in rows] == [(single["id"], 0b1, True), (multi["id"], 0b11, True)]


@pytest.mark.parametrize(
    ("single_choice", "multi_choice", "expected"),
    [
        (["No"], ["A", "B"], [False, True]),
        (["Yes"], ["A"], [True, False]),  # part of the correct set is wrong
        (["Yes", "No"], ["A", "B", "C"], [False, False]),  # more than the correct set
        ([], ["C", "D"], [False, False]),  # unanswered
    ],
)
async def test_scoring_single_and_multi_correct(
    client: AsyncClient,
    world: World,
    single_choice: list[str],
    multi_choice: list[str],
    expected: list[bool],
) -> None:
    single, multi = (await admin_view(client, world))["questions"]
    response = await submit(
        client,
        world,
        [
            {"question_id": single["id"], "answer_ids": ids(single, *single_choice)},
            {"question_id": multi["id"], "answer_ids": ids(multi, *multi_choice)},
        ],
    )
    assert response.status_code == 201, response.text
    attempt = response.json()
    assert [r["is_correct"] for r in attempt["results"]] == expected
    assert attempt["correct_count"] == sum(expected)
    assert attempt["score"] == sum(expected) / 2


async def test_left_out_questions_are_listed_as_wrong(client: AsyncClient, world: World) -> None:
    single, multi = (await admin_view(client, world))["questions"]
    response = await submit(
        client, world, [{"question_id": multi["id"], "answer_ids": ids(multi, "A", "B")}]
    )
    assert response.status_code == 201
    assert response.json()["results"] == [
        {"question_id": single["id"], "is_correct": False},
        {"question_id": multi["id"], "is_correct": True},
    ]
    empty = await submit(client, world, [])
    assert empty.status_code == 201
    assert empty.json()["correct_count"] == 0
    assert [r["is_correct"] for r in empty.json()["results"]] == [False, False]


async def test_staff_may_submit_too(client: AsyncClient, world: World) -> None:
    for role in ("owner", "admin"):
        response = await submit(client, world, [], role=role)
        assert response.status_code == 201


async def test_invalid_submissions_name_the_item(
    client: AsyncClient, world: World, factory: Factory, db: AsyncSession
) -> None:
    single, multi = (await admin_view(client, world))["questions"]
    other = await factory.quiz(world.company)
    other_question = (await admin_view(client, world, other.id))["questions"][0]
    s, m = single["id"], multi["id"]
    cases = [
        ([{"question_id": 987654, "answer_ids": []}], ["body", "answers", 0, "question_id"]),
        (
            [{"question_id": other_question["id"], "answer_ids": []}],
            ["body", "answers", 0, "question_id"],
        ),
        (
            [{"question_id": s, "answer_ids": []}, {"question_id": s, "answer_ids": []}],
            ["body", "answers", 1, "question_id"],
        ),
        (
            [{"question_id": s, "answer_ids": ids(multi, "A")}],
            ["body", "answers", 0, "answer_ids", 0],
        ),
        (
            [
                {
                    "question_id": m,
                    "answer_ids": [*ids(multi, "A"), other_question["answers"][0]["id"]],
                }
            ],
            ["body", "answers", 0, "answer_ids", 1],
        ),
        (
            [{"question_id": s, "answer_ids": ids(single, "Yes", "Yes")}],
            ["body", "answers", 0, "answer_ids", 1],
        ),
        (
            [{"question_id": m, "answer_ids": ids(multi, "A", "B", "C", "D", "A")}],
            ["body", "answers", 0, "answer_ids"],
        ),
        ([{"question_id": s, "answer_ids": [0]}], ["body", "answers", 0, "answer_ids", 0]),
        ([{"question_id": "x", "answer_ids": []}], ["body", "answers", 0, "question_id"]),
        ([{"question_id": s, "answer_ids": [], "extra": 1}], ["body", "answers", 0, "extra"]),
    ]
    for answers, loc in cases:
        response = await submit(client, world, answers)
        assert response.status_code == 422, (answers, response.text)
        body = response.json()
        assert body["code"] == "validation_error"
        assert loc in [e["loc"] for e in body["detail"]], (loc, body)
    missing = await client.post(
        f"/quizzes/{world.quiz.id}/attempts", json={}, headers=world.h("member")
    )
    assert missing.status_code == 422
    assert await db.scalar(select(func.count()).select_from(Attempt)) == 0


async def test_read_attempt_its_user_and_staff(
    client: AsyncClient, world: World, factory: Factory
) -> None:
    single, _ = (await admin_view(client, world))["questions"]
    created = (
        await submit(
            client, world, [{"question_id": single["id"], "answer_ids": ids(single, "Yes")}]
        )
    ).json()
    for role in ("member", "admin", "owner"):
        response = await client.get(f"/attempts/{created['id']}", headers=world.h(role))
        assert response.status_code == 200, role
        assert response.json() == created
    other_member = await factory.member(world.company)
    for headers in (world.h("outsider"), await factory.headers(other_member)):
        response = await client.get(f"/attempts/{created['id']}", headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "attempt_not_found"
    missing = await client.get("/attempts/987654", headers=world.h("owner"))
    assert missing.status_code == 404
    assert (await client.get(f"/attempts/{created['id']}")).status_code == 401


async def test_staff_of_another_company_cannot_read(
    client: AsyncClient, world: World, factory: Factory
) -> None:
    created = (await submit(client, world, [])).json()
    stranger = await factory.user()
    await factory.company(stranger)
    response = await client.get(
        f"/attempts/{created['id']}", headers=await factory.headers(stranger)
    )
    assert response.status_code == 404


async def test_history_newest_first_with_filters(
    client: AsyncClient, world: World, factory: Factory
) -> None:
    second_quiz = await factory.quiz(world.company)
    other_company = await factory.company(members=[world.member])
    third_quiz = await factory.quiz(other_company)

    def at(day: int) -> datetime:
        return datetime(2026, 11, day, 12, 0, tzinfo=UTC)

    a1 = await factory.attempt(world.quiz, world.member, correct=[True, False], completed_at=at(1))
    a2 = await factory.attempt(second_quiz, world.member, completed_at=at(10))
    a3 = await factory.attempt(third_quiz, world.member, completed_at=at(20))
    await factory.attempt(world.quiz, world.admin, completed_at=at(5))  # someone else's

    async def history(**params: Any) -> list[int]:
        response = await client.get("/users/me/attempts", params=params, headers=world.h("member"))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await history() == [a3.id, a2.id, a1.id]
    assert await history(quiz_id=world.quiz.id) == [a1.id]
    assert await history(company_id=world.company.id) == [a2.id, a1.id]
    assert await history(company_id=other_company.id) == [a3.id]
    assert await history(**{"from": "2026-11-10"}) == [a3.id, a2.id]
    assert await history(to="2026-11-10") == [a2.id, a1.id]  # the whole day included
    assert await history(**{"from": "2026-11-10", "to": "2026-11-10"}) == [a2.id]
    assert await history(to="2026-11-10T12:00:00Z") == [a2.id, a1.id]  # inclusive instant
    assert await history(to="2026-11-10T11:59:59Z") == [a1.id]
    assert await history(limit=1, offset=1) == [a2.id]

    page = (await client.get("/users/me/attempts", headers=world.h("member"))).json()
    assert page["total"] == 3
    assert (page["limit"], page["offset"]) == (20, 0)
    first = page["items"][2]
    assert first["correct_count"] == 1
    assert first["score"] == 0.5
    assert [r["is_correct"] for r in first["results"]] == [True, False]
    assert first["completed_at"] == "2026-11-01T12:00:00Z"

    for bad in (
        {"from": "yesterday"},
        {"limit": 0},
        {"quiz_id": 0},
        {"from": "2026-11-10", "to": "2026-11-01"},
    ):
        response = await client.get("/users/me/attempts", params=bad, headers=world.h("member"))
        assert response.status_code == 422, bad
    assert (await client.get("/users/me/attempts")).status_code == 401


async def test_history_is_constant_in_statements(
    client: AsyncClient, world: World, factory: Factory, count_statements
) -> None:
    for _ in range(15):
        await factory.attempt(world.quiz, world.member)
    with count_statements as counter:
        response = await client.get(
            "/users/me/attempts", params={"limit": 100}, headers=world.h("member")
        )
    assert len(response.json()["items"]) == 15
    # auth, count, page, results of the page
    assert counter.count <= 4, counter.statements


async def test_removed_member_keeps_history_but_cannot_submit(
    client: AsyncClient, world: World, db: AsyncSession
) -> None:
    created = (await submit(client, world, [])).json()
    from sqlalchemy import delete

    from qoach.models import Membership

    await db.execute(
        delete(Membership).where(
            Membership.user_id == world.member.id, Membership.company_id == world.company.id
        )
    )
    await db.commit()
    assert (await submit(client, world, [])).status_code == 404
    response = await client.get(f"/attempts/{created['id']}", headers=world.h("member"))
    assert response.status_code == 200
    history = await client.get("/users/me/attempts", headers=world.h("member"))
    assert [a["id"] for a in history.json()["items"]] == [created["id"]]


async def test_large_quiz_submission(client: AsyncClient, world: World) -> None:
    created = await client.post(
        f"/companies/{world.company.id}/quizzes",
        json=quiz_body(100, answers=4),
        headers=world.h("owner"),
    )
    quiz = created.json()
    answers = [
        {"question_id": q["id"], "answer_ids": [q["answers"][0 if i % 2 else 1]["id"]]}
        for i, q in enumerate(quiz["questions"])
    ]
    response = await submit(client, world, answers, quiz_id=quiz["id"])
    assert response.status_code == 201
    attempt = response.json()
    assert attempt["question_count"] == 100
    assert attempt["correct_count"] == 50
    assert attempt["score"] == 0.5
    assert [r["question_id"] for r in attempt["results"]] == [q["id"] for q in quiz["questions"]]
