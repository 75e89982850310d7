"""A small dataset whose every analytics number is worked out by hand in the tests.

Users are created in this order, so their ids ascend: owner, admin, m1, m2, m3,
former, outsider. Company C (visible) has quizzes q1, q2, q4; company C2 has q3.

q1 version 1 had 2 questions; version 2 (current) has 4 questions, each with
answers at positions 0 (right), 1, 2 (wrong) — except question 4 whose right
answer set is {0, 1}. q2 and q3 have 2 questions: position 0 right, 1 wrong.

| attempt | user   | quiz    | completed_at (UTC)  | choices                 | score |
|---------|--------|---------|---------------------|-------------------------|-------|
| a0      | m2     | q1 v1   | 2026-09-27 10:00    | [0], [0]  (q2 wrong)    | 1/2   |
| a1      | m1     | q1 v2   | 2026-09-28 09:00    | [0] [0] [0] [0,1]       | 4/4   |
| a2      | m2     | q1 v2   | 2026-10-01 10:00    | [0] [1] [0] []          | 2/4   |
| a3      | m1     | q1 v2   | 2026-10-04 23:59:59 | [0] [0] [2] [0]         | 2/4   |
| a4      | owner  | q1 v2   | 2026-10-05 00:00:00 | [1] [2] [1] [0,1]       | 1/4   |
| a5      | m2     | q2      | 2026-10-04 12:00    | [0] [0]                 | 2/2   |
| a6      | former | q2      | 2026-10-02 08:00    | [0] [1]                 | 1/2   |
| a7      | m1     | q3 (C2) | 2026-10-03 15:00    | [1] [1]                 | 0/2   |

`former` left C after a6. 2026-09-28 is a Monday; its week runs to Sunday
2026-10-04 and so crosses from September into October.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete

from qoach.models import Attempt, Company, Membership, Quiz, User
from tests.factories import Factory


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


Q1_V2 = [
    ("Q1.1", [("r11", True), ("w11", False), ("x11", False)]),
    ("Q1.2", [("r12", True), ("w12", False), ("x12", False)]),
    ("Q1.3", [("r13", True), ("w13", False), ("x13", False)]),
    ("Q1.4", [("a14", True), ("b14", True), ("c14", False)]),
]


@dataclass
class World:
    owner: User
    admin: User
    m1: User
    m2: User
    m3: User
    former: User
    outsider: User
    company: Company
    company2: Company
    q1: Quiz
    q2: Quiz
    q4: Quiz
    q3: Quiz
    attempts: dict[str, Attempt] = field(default_factory=dict)


async def build_world(factory: Factory) -> World:
    owner = await factory.user(email="owner@example.com")
    admin = await factory.user(email="admin@example.com")
    m1 = await factory.user(email="m1@example.com")
    m2 = await factory.user(email="m2@example.com")
    m3 = await factory.user(email="m3@example.com")
    former = await factory.user(email="former@example.com")
    outsider = await factory.user(email="outsider@example.com")
    company = await factory.company(owner, admins=[admin], members=[m1, m2, m3, former])
    company2 = await factory.company(outsider, members=[m1])
    q1 = await factory.quiz(company, title="Quiz one")
    q2 = await factory.quiz(company, title="Quiz two")
    q4 = await factory.quiz(company, title="Quiz never taken")
    q3 = await factory.quiz(company2, title="Quiz three")
    world = World(owner, admin, m1, m2, m3, former, outsider, company, company2, q1, q2, q4, q3)
    a = world.attempts
    a["a0"] = await factory.attempt(q1, m2, choices=[[0], [1]], completed_at=at("2026-09-27 10:00"))
    await factory.new_version(q1, Q1_V2)
    a["a1"] = await factory.attempt(
        q1, m1, choices=[[0], [0], [0], [0, 1]], completed_at=at("2026-09-28 09:00")
    )
    a["a2"] = await factory.attempt(
        q1, m2, choices=[[0], [1], [0], []], completed_at=at("2026-10-01 10:00")
    )
    a["a3"] = await factory.attempt(
        q1, m1, choices=[[0], [0], [2], [0]], completed_at=at("2026-10-04 23:59:59")
    )
    a["a4"] = await factory.attempt(
        q1, owner, choices=[[1], [2], [1], [0, 1]], completed_at=at("2026-10-05 00:00:00")
    )
    a["a5"] = await factory.attempt(q2, m2, choices=[[0], [0]], completed_at=at("2026-10-04 12:00"))
    a["a6"] = await factory.attempt(
        q2, former, choices=[[0], [1]], completed_at=at("2026-10-02 08:00")
    )
    a["a7"] = await factory.attempt(q3, m1, choices=[[1], [1]], completed_at=at("2026-10-03 15:00"))
    await factory.session.execute(
        delete(Membership).where(
            Membership.company_id == company.id, Membership.user_id == former.id
        )
    )
    await factory.session.commit()
    expected_scores = {"a0": 1, "a1": 4, "a2": 2, "a3": 2, "a4": 1, "a5": 2, "a6": 1, "a7": 0}
    assert {k: v.correct_count for k, v in a.items()} == expected_scores
    return world
