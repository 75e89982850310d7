"""Deleting a company (or its owner) removes every row of that company, and only those."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import (
    Answer,
    Attempt,
    AttemptAnswer,
    Company,
    Invitation,
    JoinRequest,
    Membership,
    Notification,
    Question,
    Quiz,
    QuizVersion,
)
from tests.companies.conftest import MakeWorld, World
from tests.companies.helpers import all_rows, count
from tests.factories import Factory


async def _populate(client: AsyncClient, factory: Factory, world: World) -> None:
    """Members, invitations, requests, quizzes with versions, attempts, notifications."""
    company = world.company
    for _ in range(2):
        quiz = await factory.quiz(company)
        await factory.new_version(
            quiz, [("Q?", [("a", True), ("b", False)]), ("R?", [("c", False), ("d", True)])]
        )
        await factory.attempt(quiz, world.member, correct=[True, False])
        await factory.attempt(quiz, world.admin)
    invited = await client.post(
        f"/companies/{company.id}/invitations",
        json={"user_id": (await factory.user()).id},
        headers=world.headers["owner"],
    )
    assert invited.status_code == 201  # + an invitation_received notification
    asked = await client.post(
        f"/companies/{company.id}/requests", headers=world.headers["outsider"]
    )
    assert asked.status_code == 201  # + join_request_received notifications to staff


async def _footprint(db: AsyncSession, company_id: int) -> dict[str, list[Any]]:
    """Primary keys of every row that belongs to the company, table by table."""
    quizzes = select(Quiz.id).where(Quiz.company_id == company_id)
    versions = select(QuizVersion.id).where(QuizVersion.quiz_id.in_(quizzes))
    questions = select(Question.id).where(Question.quiz_version_id.in_(versions))
    attempts = select(Attempt.id).where(Attempt.company_id == company_id)
    queries = {
        "companies": select(Company.id).where(Company.id == company_id),
        "memberships": select(Membership.id).where(Membership.company_id == company_id),
        "invitations": select(Invitation.id).where(Invitation.company_id == company_id),
        "join_requests": select(JoinRequest.id).where(JoinRequest.company_id == company_id),
        "quizzes": quizzes,
        "quiz_versions": versions,
        "questions": questions,
        "answers": select(Answer.id).where(Answer.question_id.in_(questions)),
        "attempts": attempts,
        "attempt_answers": select(AttemptAnswer.attempt_id).where(
            AttemptAnswer.attempt_id.in_(attempts)
        ),
        "notifications": select(Notification.id).where(Notification.company_id == company_id),
    }
    return {name: [row[0] for row in await all_rows(db, stmt)] for name, stmt in queries.items()}


_PK = {
    "companies": Company.id,
    "memberships": Membership.id,
    "invitations": Invitation.id,
    "join_requests": JoinRequest.id,
    "quizzes": Quiz.id,
    "quiz_versions": QuizVersion.id,
    "questions": Question.id,
    "answers": Answer.id,
    "attempts": Attempt.id,
    "attempt_answers": AttemptAnswer.attempt_id,
    "notifications": Notification.id,
}


async def _remaining(db: AsyncSession, footprint: dict[str, list[Any]]) -> dict[str, int]:
    """How many of these rows still exist, by table."""
    result = {}
    for name, ids in footprint.items():
        column = _PK[name]
        result[name] = await count(db, column.class_, column.in_(ids))
    return result


async def _arrange(
    client: AsyncClient, factory: Factory, make_world: MakeWorld
) -> tuple[World, World]:
    doomed = await make_world()
    kept = await make_world()
    # a user in both companies: their rows in the kept company must stay
    await factory.member(kept.company, doomed.member)
    await _populate(client, factory, doomed)
    await _populate(client, factory, kept)
    return doomed, kept


async def test_delete_company_cascades_to_every_table(
    client: AsyncClient, factory: Factory, make_world: MakeWorld, db: AsyncSession
) -> None:
    doomed, kept = await _arrange(client, factory, make_world)
    doomed_rows = await _footprint(db, doomed.company.id)
    kept_rows = await _footprint(db, kept.company.id)
    # every table really has rows to delete (or the test proves nothing)
    assert all(doomed_rows.values()), doomed_rows
    assert all(kept_rows.values()), kept_rows

    response = await client.delete(
        f"/companies/{doomed.company.id}", headers=doomed.headers["owner"]
    )
    assert response.status_code == 204

    assert await _remaining(db, doomed_rows) == dict.fromkeys(doomed_rows, 0)
    assert await _footprint(db, kept.company.id) == kept_rows
    # the users themselves stay
    listed = await client.get("/companies", headers=doomed.headers["member"])
    assert [item["id"] for item in listed.json()["items"]] == [kept.company.id]


async def test_deleting_the_owner_deletes_their_companies(
    client: AsyncClient, factory: Factory, make_world: MakeWorld, db: AsyncSession
) -> None:
    doomed, kept = await _arrange(client, factory, make_world)
    # the doomed company's owner is also a plain member of the kept company
    await factory.member(kept.company, doomed.owner)
    doomed_rows = await _footprint(db, doomed.company.id)
    kept_rows = await _footprint(db, kept.company.id)

    response = await client.delete("/users/me", headers=doomed.headers["owner"])
    assert response.status_code == 204, response.text

    assert await _remaining(db, doomed_rows) == dict.fromkeys(doomed_rows, 0)
    after = await _footprint(db, kept.company.id)
    removed = set(kept_rows["memberships"]) - set(after["memberships"])
    assert len(removed) == 1  # only the deleted user's membership of the kept company
    assert {**after, "memberships": kept_rows["memberships"]} == kept_rows
    owners = await count(
        db, Membership, Membership.company_id == kept.company.id, Membership.role == "owner"
    )
    assert owners == 1
    total = await count(db, Company)
    assert total == 1
    assert await count(db, Membership, Membership.user_id == doomed.owner.id) == 0
