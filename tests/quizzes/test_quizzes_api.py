"""Quiz endpoints: views, versions, edits, deletion, listing, the quiz_created event."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Attempt, AttemptAnswer, Notification, Question, QuizVersion
from tests.factories import Factory
from tests.quizzes.helpers import World, quiz_body


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _all_keys(v)}
    return set()


async def test_create_returns_admin_view(client: AsyncClient, world: World) -> None:
    response = await client.post(
        f"/companies/{world.company.id}/quizzes", json=quiz_body(3), headers=world.h("admin")
    )
    assert response.status_code == 201, response.text
    quiz = response.json()
    assert set(quiz) == {
        "id",
        "company_id",
        "title",
        "description",
        "frequency_days",
        "questions",
        "version",
        "created_at",
        "updated_at",
    }
    assert quiz["company_id"] == world.company.id
    assert quiz["version"] == 1
    assert quiz["title"] == "Safety basics"
    assert quiz["description"] == "Read before the shift"
    assert quiz["frequency_days"] == 7
    assert quiz["created_at"].endswith("Z")
    assert [q["text"] for q in quiz["questions"]] == ["Question 1?", "Question 2?", "Question 3?"]
    first = quiz["questions"][0]["answers"]
    assert [(a["text"], a["is_correct"]) for a in first] == [
        ("Answer 1.1", True),
        ("Answer 1.2", False),
    ]
    assert all(isinstance(a["id"], int) for q in quiz["questions"] for a in q["answers"])


async def test_public_view_never_shows_is_correct(client: AsyncClient, world: World) -> None:
    for role in ("member", "admin", "owner"):
        response = await client.get(f"/quizzes/{world.quiz.id}", headers=world.h(role))
        assert response.status_code == 200, response.text
        quiz = response.json()
        assert "is_correct" not in _all_keys(quiz)
        assert "is_correct" not in response.text
        assert quiz["id"] == world.quiz.id
        assert quiz["version"] == 1
        assert [q["text"] for q in quiz["questions"]] == ["Single?", "Multi?"]
        assert [a["text"] for a in quiz["questions"][1]["answers"]] == ["A", "B", "C", "D"]
        assert set(quiz["questions"][0]["answers"][0]) == {"id", "text"}


async def test_public_schema_has_no_is_correct(client: AsyncClient, world: World) -> None:
    schema = (await client.get("/openapi.json")).json()
    ref = schema["paths"]["/quizzes/{quiz_id}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    components = schema["components"]["schemas"]

    def fields(name: str) -> set[str]:
        found = set(components[name]["properties"])
        for prop in components[name]["properties"].values():
            target = prop.get("items", prop).get("$ref")
            if target:
                found |= fields(target.rsplit("/", 1)[1])
        return found

    assert "is_correct" not in fields(ref.rsplit("/", 1)[1])


async def test_admin_view_shows_is_correct(client: AsyncClient, world: World) -> None:
    for role in ("admin", "owner"):
        response = await client.get(f"/quizzes/{world.quiz.id}/admin", headers=world.h(role))
        assert response.status_code == 200
        answers = response.json()["questions"][1]["answers"]
        assert [(a["text"], a["is_correct"]) for a in answers] == [
            ("A", True),
            ("B", True),
            ("C", False),
            ("D", False),
        ]


async def test_quizzes_of_a_visible_company_stay_hidden_from_outsiders(
    client: AsyncClient, world: World, factory: Factory
) -> None:
    other_company = await factory.company(world.outsider)
    for path in (f"/quizzes/{world.quiz.id}", f"/quizzes/{world.quiz.id}/admin"):
        response = await client.get(path, headers=world.h("outsider"))
        assert response.status_code == 404
        assert response.json()["code"] == "quiz_not_found"
        # the same answer as for an id that does not exist
        missing = await client.get(
            path.replace(str(world.quiz.id), "999999"), headers=world.h("outsider")
        )
        assert missing.status_code == 404
        assert missing.json() == response.json()
    # and the outsider's own staff role elsewhere does not help
    assert other_company.id != world.company.id


async def test_put_makes_a_new_version(client: AsyncClient, world: World, db: AsyncSession) -> None:
    before = (await client.get(f"/quizzes/{world.quiz.id}", headers=world.h("member"))).json()
    body = quiz_body(3, title="Safety v2", frequency_days=30)
    response = await client.put(f"/quizzes/{world.quiz.id}", json=body, headers=world.h("admin"))
    assert response.status_code == 200, response.text
    quiz = response.json()
    assert quiz["version"] == 2
    assert quiz["title"] == "Safety v2"
    assert quiz["frequency_days"] == 30
    assert quiz["created_at"] == before["created_at"]
    assert _when(quiz["updated_at"]) > _when(before["updated_at"])
    assert len(quiz["questions"]) == 3
    old_ids = {q["id"] for q in before["questions"]}
    assert old_ids.isdisjoint({q["id"] for q in quiz["questions"]})
    assert "is_correct" in quiz["questions"][0]["answers"][0]

    again = await client.get(f"/quizzes/{world.quiz.id}", headers=world.h("member"))
    assert again.json()["version"] == 2
    assert [q["id"] for q in again.json()["questions"]] == [q["id"] for q in quiz["questions"]]

    # the old version and its questions are kept
    versions = (
        await db.scalars(
            select(QuizVersion.version)
            .where(QuizVersion.quiz_id == world.quiz.id)
            .order_by(QuizVersion.version)
        )
    ).all()
    assert versions == [1, 2]
    assert await db.scalar(select(func.count()).where(Question.id.in_(old_ids))) == 2
    await db.commit()  # end the read: SQLite takes its write lock at BEGIN

    third = await client.put(f"/quizzes/{world.quiz.id}", json=body, headers=world.h("owner"))
    assert third.json()["version"] == 3


async def test_put_without_description_clears_it(client: AsyncClient, world: World) -> None:
    body = quiz_body(2)
    del body["description"]
    del body["frequency_days"]
    response = await client.put(f"/quizzes/{world.quiz.id}", json=body, headers=world.h("owner"))
    assert response.status_code == 200
    assert response.json()["description"] is None
    assert response.json()["frequency_days"] == 1


async def test_patch_edits_fields_and_keeps_version(client: AsyncClient, world: World) -> None:
    before = (await client.get(f"/quizzes/{world.quiz.id}/admin", headers=world.h("admin"))).json()
    response = await client.patch(
        f"/quizzes/{world.quiz.id}",
        json={"title": "  Renamed ", "frequency_days": 14},
        headers=world.h("admin"),
    )
    assert response.status_code == 200, response.text
    quiz = response.json()
    assert quiz["title"] == "Renamed"
    assert quiz["frequency_days"] == 14
    assert quiz["description"] == before["description"]
    assert quiz["version"] == 1
    assert quiz["questions"] == before["questions"]
    assert _when(quiz["updated_at"]) > _when(before["updated_at"])

    cleared = await client.patch(
        f"/quizzes/{world.quiz.id}", json={"description": "Now with text"}, headers=world.h("owner")
    )
    assert cleared.json()["description"] == "Now with text"
    cleared = await client.patch(
        f"/quizzes/{world.quiz.id}", json={"description": None}, headers=world.h("owner")
    )
    assert cleared.status_code == 200
    assert cleared.json()["description"] is None
    assert cleared.json()["title"] == "Renamed"


async def test_patch_rejects_other_fields_and_nulls(client: AsyncClient, world: World) -> None:
    for body, loc in [
        ({"questions": quiz_body()["questions"]}, ["body", "questions"]),
        ({"version": 5}, ["body", "version"]),
        ({"company_id": 9}, ["body", "company_id"]),
        ({"title": None}, ["body", "title"]),
        ({"title": ""}, ["body", "title"]),
        ({"frequency_days": None}, ["body", "frequency_days"]),
        ({"frequency_days": 0}, ["body", "frequency_days"]),
    ]:
        response = await client.patch(
            f"/quizzes/{world.quiz.id}", json=body, headers=world.h("owner")
        )
        assert response.status_code == 422, body
        assert loc in [e["loc"] for e in response.json()["detail"]], body
    after = (await client.get(f"/quizzes/{world.quiz.id}", headers=world.h("owner"))).json()
    assert after["version"] == 1
    assert after["title"] == world.quiz.title


async def test_delete_removes_quiz_and_attempts(
    client: AsyncClient, world: World, factory: Factory, db: AsyncSession
) -> None:
    attempt = await factory.attempt(world.quiz, world.member, correct=[True, False])
    response = await client.delete(f"/quizzes/{world.quiz.id}", headers=world.h("admin"))
    assert response.status_code == 204
    assert response.content == b""
    gone = await client.get(f"/quizzes/{world.quiz.id}", headers=world.h("owner"))
    assert gone.status_code == 404
    again = await client.delete(f"/quizzes/{world.quiz.id}", headers=world.h("admin"))
    assert again.status_code == 404
    assert await db.scalar(select(func.count()).where(Attempt.id == attempt.id)) == 0
    assert await db.scalar(select(func.count()).where(AttemptAnswer.attempt_id == attempt.id)) == 0
    assert await db.scalar(select(func.count()).where(QuizVersion.quiz_id == world.quiz.id)) == 0


async def test_list_summaries(client: AsyncClient, world: World, factory: Factory) -> None:
    second = await factory.quiz(
        world.company, title="100% Fire_safety", questions=[("q", [("a", True), ("b", False)])] * 5
    )
    other = await factory.company()
    await factory.quiz(other, title="Elsewhere")
    response = await client.get(f"/companies/{world.company.id}/quizzes", headers=world.h("member"))
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 2
    assert page["limit"] == 20
    assert page["offset"] == 0
    assert [item["id"] for item in page["items"]] == [second.id, world.quiz.id]
    item = page["items"][0]
    assert set(item) == {
        "id",
        "company_id",
        "title",
        "description",
        "frequency_days",
        "question_count",
        "version",
        "created_at",
        "updated_at",
    }
    assert item["question_count"] == 5
    assert page["items"][1]["question_count"] == 2

    limited = await client.get(
        f"/companies/{world.company.id}/quizzes",
        params={"limit": 1, "offset": 1},
        headers=world.h("member"),
    )
    assert limited.json()["total"] == 2
    assert [i["id"] for i in limited.json()["items"]] == [world.quiz.id]

    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        bad_page = await client.get(
            f"/companies/{world.company.id}/quizzes", params=bad, headers=world.h("member")
        )
        assert bad_page.status_code == 422


async def test_list_counts_questions_of_the_current_version(
    client: AsyncClient, world: World
) -> None:
    await client.put(f"/quizzes/{world.quiz.id}", json=quiz_body(6), headers=world.h("owner"))
    page = (
        await client.get(f"/companies/{world.company.id}/quizzes", headers=world.h("member"))
    ).json()
    assert page["items"][0]["question_count"] == 6
    assert page["items"][0]["version"] == 2


async def test_list_search_is_literal(client: AsyncClient, world: World, factory: Factory) -> None:
    await factory.quiz(world.company, title="100% Fire_safety")
    await factory.quiz(world.company, title="1000 Fireworks")
    url = f"/companies/{world.company.id}/quizzes"

    async def titles(search: str) -> list[str]:
        response = await client.get(url, params={"search": search}, headers=world.h("member"))
        assert response.status_code == 200
        return [item["title"] for item in response.json()["items"]]

    assert await titles("fire") == ["1000 Fireworks", "100% Fire_safety"]
    assert await titles("0%") == ["100% Fire_safety"]
    assert await titles("e_s") == ["100% Fire_safety"]
    assert await titles("%") == ["100% Fire_safety"]
    assert await titles("nothing") == []


async def test_create_notifies_every_member_but_the_author(
    client: AsyncClient, world: World, db: AsyncSession
) -> None:
    response = await client.post(
        f"/companies/{world.company.id}/quizzes", json=quiz_body(), headers=world.h("admin")
    )
    quiz_id = response.json()["id"]
    rows = (await db.scalars(select(Notification).where(Notification.kind == "quiz_created"))).all()
    assert sorted(row.user_id for row in rows) == sorted([world.owner.id, world.member.id])
    assert all(row.company_id == world.company.id for row in rows)
    assert all(row.payload["quiz_id"] == quiz_id for row in rows)
    assert all("Safety basics" in row.title for row in rows)


async def test_quiz_created_is_pushed_after_commit(
    client: AsyncClient, world: World, clean_app: Any
) -> None:
    broker = clean_app.state.broker
    subscription = await broker.subscribe(f"user:{world.member.id}")
    try:
        response = await client.post(
            f"/companies/{world.company.id}/quizzes", json=quiz_body(), headers=world.h("owner")
        )
        assert response.status_code == 201
        message = json.loads(await asyncio.wait_for(subscription.__anext__(), timeout=5))
    finally:
        await subscription.close()
    assert message["type"] == "notification"
    assert message["data"]["kind"] == "quiz_created"
    assert message["data"]["payload"]["quiz_id"] == response.json()["id"]


async def test_failed_create_writes_and_notifies_nothing(
    client: AsyncClient, world: World, db: AsyncSession
) -> None:
    response = await client.post(
        f"/companies/{world.company.id}/quizzes", json=quiz_body(1), headers=world.h("owner")
    )
    assert response.status_code == 422
    assert await db.scalar(select(func.count()).select_from(Notification)) == 0
    assert await db.scalar(select(func.count()).select_from(QuizVersion)) == 1
