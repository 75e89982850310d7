"""Shared arrangements for the quiz and attempt tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qoach.models import Company, Quiz, User
from tests.factories import Factory


def quiz_body(
    questions: int = 2, *, title: str = "Safety basics", answers: int = 2, **fields: Any
) -> dict[str, Any]:
    """A valid QuizCreate body: answer 1 of each question is the correct one."""
    body: dict[str, Any] = {
        "title": title,
        "description": "Read before the shift",
        "frequency_days": 7,
        "questions": [
            {
                "text": f"Question {q + 1}?",
                "answers": [
                    {"text": f"Answer {q + 1}.{a + 1}", "is_correct": a == 0}
                    for a in range(answers)
                ],
            }
            for q in range(questions)
        ],
    }
    body.update(fields)
    return body


@dataclass
class World:
    company: Company
    quiz: Quiz
    owner: User
    admin: User
    member: User
    outsider: User
    headers: dict[str, dict[str, str]]

    def h(self, role: str) -> dict[str, str]:
        return self.headers[role]


ROLES = ("owner", "admin", "member", "outsider")


async def make_world(factory: Factory, *, is_visible: bool = True) -> World:
    owner = await factory.user()
    admin = await factory.user()
    member = await factory.user()
    outsider = await factory.user()
    company = await factory.company(owner, admins=[admin], members=[member], is_visible=is_visible)
    quiz = await factory.quiz(
        company,
        questions=[
            ("Single?", [("Yes", True), ("No", False), ("Maybe", False)]),
            ("Multi?", [("A", True), ("B", True), ("C", False), ("D", False)]),
        ],
        created_by=owner,
    )
    users = {"owner": owner, "admin": admin, "member": member, "outsider": outsider}
    headers = {role: await factory.headers(user) for role, user in users.items()}
    return World(company, quiz, owner, admin, member, outsider, headers)
