"""One arranged world for the whole-app security tests.

Company A (visible) has an owner, an admin, a plain member and a `target` member;
the `outsider` belongs to no company, holds a pending invitation to A and a pending
join request to A; the member has an attempt on A's quiz and a notification.
Company B (visible) belongs to `other_owner` and has the same kinds of objects:
a quiz, an attempt, an invitation, a join request and a notification — used to
prove that another company's objects answer like ids that do not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qoach.models import Invitation, JoinRequest, Notification, User
from qoach.quizzes.excel_import.template import template_workbook
from tests.factories import PASSWORD, Factory

ANON, OUT, MEM, ADM, OWN, OTH = CALLERS = (
    "anonymous",
    "outsider",
    "member",
    "admin",
    "owner",
    "other_owner",
)
AUTHENTICATED = CALLERS[1:]
MISSING_ID = 999_999

_TEMPLATE: bytes | None = None


def xlsx_template() -> bytes:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = template_workbook()
    return _TEMPLATE


@dataclass
class World:
    users: dict[str, User]
    access: dict[str, str]
    refresh: dict[str, str]
    company_a: int
    company_b: int
    target_id: int  # a plain member of A who is not a caller
    invitee_id: int  # a user with nothing pending anywhere
    quiz_a: int
    quiz_b: int
    attempt_a: int  # the member's
    attempt_b: int  # other_owner's
    invitation_a: int  # A → outsider
    invitation_b: int  # B → a guest of B
    request_a: int  # outsider → A
    request_b: int  # a guest of B → B
    notification_a: int  # the member's
    notification_b: int  # other_owner's
    # A's current questions: [(question id, [(answer id, is_correct), ...]), ...]
    questions_a: list[tuple[int, list[tuple[int, bool]]]] = field(default_factory=list)

    def headers(self, caller: str) -> dict[str, str]:
        if caller == ANON:
            return {}
        return {"Authorization": f"Bearer {self.access[caller]}"}

    def user_id(self, who: str) -> int:
        if who == "target":
            return self.target_id
        return self.users[who].id

    def email(self, caller: str) -> str:
        return self.users[MEM if caller == ANON else caller].email

    def correct_answers(self) -> dict[str, Any]:
        return {
            "answers": [
                {"question_id": qid, "answer_ids": [aid for aid, ok in answers if ok]}
                for qid, answers in self.questions_a
            ]
        }


async def build_world(factory: Factory) -> World:
    users = {caller: await factory.user() for caller in AUTHENTICATED}
    target = await factory.user()
    invitee = await factory.user()
    guest_b = await factory.user()
    company_a = await factory.company(users[OWN], admins=[users[ADM]], members=[users[MEM], target])
    company_b = await factory.company(users[OTH])
    quiz_a = await factory.quiz(company_a, created_by=users[OWN])
    quiz_b = await factory.quiz(company_b, created_by=users[OTH])
    attempt_a = await factory.attempt(quiz_a, users[MEM])
    attempt_b = await factory.attempt(quiz_b, users[OTH])
    session = factory.session
    invitation_a = Invitation(company_id=company_a.id, user_id=users[OUT].id)
    invitation_b = Invitation(company_id=company_b.id, user_id=guest_b.id)
    request_a = JoinRequest(company_id=company_a.id, user_id=users[OUT].id)
    request_b = JoinRequest(company_id=company_b.id, user_id=guest_b.id)
    # every caller has one notification (the WebSocket row replays it); the member's
    # and other_owner's are the `{notification_id}` objects of A and B
    notes = {
        caller: Notification(
            user_id=user.id,
            company_id=company_b.id if caller == OTH else company_a.id,
            kind="quiz_created",
            title=f"for {caller}",
            payload={},
        )
        for caller, user in users.items()
    }
    session.add_all([invitation_a, invitation_b, request_a, request_b, *notes.values()])
    await session.commit()

    version = await factory.version_of(quiz_a)
    questions = [
        (question.id, [(answer.id, answer.is_correct) for answer in question.answers])
        for question in version.questions
    ]
    await session.commit()
    access: dict[str, str] = {}
    refresh: dict[str, str] = {}
    for caller, user in users.items():
        access[caller], refresh[caller], _ = await factory.tokens(user)
    return World(
        users=users,
        access=access,
        refresh=refresh,
        company_a=company_a.id,
        company_b=company_b.id,
        target_id=target.id,
        invitee_id=invitee.id,
        quiz_a=quiz_a.id,
        quiz_b=quiz_b.id,
        attempt_a=attempt_a.id,
        attempt_b=attempt_b.id,
        invitation_a=invitation_a.id,
        invitation_b=invitation_b.id,
        request_a=request_a.id,
        request_b=request_b.id,
        notification_a=notes[MEM].id,
        notification_b=notes[OTH].id,
        questions_a=questions,
    )


def quiz_definition(title: str = "Security quiz") -> dict[str, Any]:
    return {
        "title": title,
        "description": "Arranged by the security tests",
        "frequency_days": 7,
        "questions": [
            {
                "text": f"Question {n}?",
                "answers": [
                    {"text": "Right", "is_correct": True},
                    {"text": "Wrong", "is_correct": False},
                ],
            }
            for n in (1, 2)
        ],
    }


__all__ = [
    "ADM",
    "ANON",
    "AUTHENTICATED",
    "CALLERS",
    "MEM",
    "MISSING_ID",
    "OTH",
    "OUT",
    "OWN",
    "PASSWORD",
    "World",
    "build_world",
    "quiz_definition",
    "xlsx_template",
]
