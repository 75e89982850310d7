"""Small async factories that write straight to the database (and commit).

Every factory takes keyword overrides; defaults are valid and unique. Use them to
arrange data; exercise the behaviour under test through the HTTP client.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qoach.auth.tokens import encode_token, new_jti
from qoach.config import Settings
from qoach.models import (
    Answer,
    Attempt,
    AttemptAnswer,
    AuthSession,
    Company,
    CompanyRole,
    Membership,
    Question,
    Quiz,
    QuizVersion,
    User,
)

# argon2id hash of "password123" (cheap parameters, verifies under any settings)
PASSWORD = "password123"
_counter = itertools.count(1)


@dataclass
class QuizSpec:
    """Questions as [(text, [(answer text, is_correct), ...]), ...]."""

    questions: Sequence[tuple[str, Sequence[tuple[str, bool]]]]


def default_questions(count: int = 2) -> list[tuple[str, list[tuple[str, bool]]]]:
    return [
        (f"Question {i + 1}?", [(f"Right {i + 1}", True), (f"Wrong {i + 1}", False)])
        for i in range(count)
    ]


class Factory:
    _password_hash: str | None = None

    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    async def _hash(self) -> str:
        if Factory._password_hash is None:
            from qoach.auth.passwords import hash_password

            Factory._password_hash = await hash_password(PASSWORD)
        return Factory._password_hash

    async def user(
        self,
        *,
        email: str | None = None,
        first_name: str | None = "Test",
        last_name: str | None = None,
        password_hash: str | bool | None = True,
    ) -> User:
        n = next(_counter)
        user = User(
            email=(email or f"user{n}@example.com").lower(),
            first_name=first_name,
            last_name=last_name if last_name is not None else f"User{n}",
            password_hash=await self._hash() if password_hash is True else password_hash or None,
        )
        self.session.add(user)
        await self.session.commit()
        return user

    async def tokens(self, user: User) -> tuple[str, str, AuthSession]:
        """A fresh login of `user`: (access token, refresh token, its auth session)."""
        jti = new_jti()
        auth_session = AuthSession(
            user_id=user.id,
            refresh_jti=jti,
            expires_at=datetime.now(UTC) + timedelta(days=self.settings.refresh_token_expire_days),
        )
        self.session.add(auth_session)
        await self.session.commit()
        access, _ = encode_token(
            self.settings, token_type="access", user_id=user.id, session_id=auth_session.id
        )
        refresh, _ = encode_token(
            self.settings,
            token_type="refresh",
            user_id=user.id,
            session_id=auth_session.id,
            jti=jti,
        )
        return access, refresh, auth_session

    async def headers(self, user: User) -> dict[str, str]:
        access, _, _ = await self.tokens(user)
        return {"Authorization": f"Bearer {access}"}

    async def company(
        self,
        owner: User | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        is_visible: bool = True,
        admins: Sequence[User] = (),
        members: Sequence[User] = (),
    ) -> Company:
        owner = owner or await self.user()
        company = Company(
            name=name or f"Company {next(_counter)}",
            description=description,
            is_visible=is_visible,
        )
        self.session.add(company)
        await self.session.flush()
        self.session.add(Membership(company_id=company.id, user_id=owner.id, role="owner"))
        for admin in admins:
            self.session.add(Membership(company_id=company.id, user_id=admin.id, role="admin"))
        for member in members:
            self.session.add(Membership(company_id=company.id, user_id=member.id, role="member"))
        await self.session.commit()
        return company

    async def member(
        self, company: Company, user: User | None = None, role: CompanyRole | str = "member"
    ) -> User:
        user = user or await self.user()
        self.session.add(
            Membership(company_id=company.id, user_id=user.id, role=CompanyRole(role).value)
        )
        await self.session.commit()
        return user

    async def quiz(
        self,
        company: Company,
        *,
        title: str | None = None,
        description: str | None = None,
        frequency_days: int = 1,
        questions: Sequence[tuple[str, Sequence[tuple[str, bool]]]] | None = None,
        created_by: User | None = None,
    ) -> Quiz:
        """A quiz at version 1 (call `new_version` for more)."""
        quiz = Quiz(
            company_id=company.id,
            title=title or f"Quiz {next(_counter)}",
            description=description,
            frequency_days=frequency_days,
            version=1,
            created_by_id=created_by.id if created_by else None,
        )
        self.session.add(quiz)
        await self.session.flush()
        await self._add_version(quiz, 1, questions or default_questions())
        await self.session.commit()
        return quiz

    async def new_version(
        self, quiz: Quiz, questions: Sequence[tuple[str, Sequence[tuple[str, bool]]]]
    ) -> QuizVersion:
        quiz.version += 1
        version = await self._add_version(quiz, quiz.version, questions)
        await self.session.commit()
        return version

    async def _add_version(
        self,
        quiz: Quiz,
        number: int,
        questions: Sequence[tuple[str, Sequence[tuple[str, bool]]]],
    ) -> QuizVersion:
        version = QuizVersion(quiz_id=quiz.id, version=number, question_count=len(questions))
        self.session.add(version)
        await self.session.flush()
        for q_pos, (text, answers) in enumerate(questions):
            question = Question(quiz_version_id=version.id, position=q_pos, text=text)
            self.session.add(question)
            await self.session.flush()
            for a_pos, (answer_text, correct) in enumerate(answers):
                self.session.add(
                    Answer(
                        question_id=question.id,
                        position=a_pos,
                        text=answer_text,
                        is_correct=correct,
                    )
                )
        await self.session.flush()
        return version

    async def version_of(self, quiz: Quiz, number: int | None = None) -> QuizVersion:
        from sqlalchemy import select
        from sqlalchemy.orm import selectinload

        stmt = (
            select(QuizVersion)
            .where(QuizVersion.quiz_id == quiz.id, QuizVersion.version == (number or quiz.version))
            .options(selectinload(QuizVersion.questions).selectinload(Question.answers))
        )
        return (await self.session.scalars(stmt)).one()

    async def attempt(
        self,
        quiz: Quiz,
        user: User,
        *,
        choices: Sequence[Sequence[int]] | None = None,
        correct: Sequence[bool] | None = None,
        completed_at: datetime | None = None,
        version: int | None = None,
    ) -> Attempt:
        """An attempt on `quiz` (current version unless `version`).

        `choices[i]` lists the chosen answer positions for question i (empty =
        unanswered); or `correct[i]` picks the right / a wrong answer set.
        """
        qv = await self.version_of(quiz, version)
        questions = list(qv.questions)
        rows: list[tuple[int, int, bool]] = []
        for i, question in enumerate(questions):
            right = {a.position for a in question.answers if a.is_correct}
            if choices is not None:
                chosen = set(choices[i]) if i < len(choices) else set()
            elif correct is not None:
                if i < len(correct) and correct[i]:
                    chosen = right
                else:
                    wrong = [a.position for a in question.answers if not a.is_correct]
                    chosen = {wrong[0]} if wrong else set()
            else:
                chosen = right
            mask = sum(1 << p for p in chosen)
            rows.append((question.id, mask, bool(chosen) and chosen == right))
        attempt = Attempt(
            quiz_id=quiz.id,
            quiz_version_id=qv.id,
            company_id=quiz.company_id,
            user_id=user.id,
            quiz_version=qv.version,
            correct_count=sum(1 for _, _, ok in rows if ok),
            question_count=len(rows),
            completed_at=completed_at or datetime.now(UTC),
        )
        self.session.add(attempt)
        await self.session.flush()
        for question_id, mask, ok in rows:
            self.session.add(
                AttemptAnswer(
                    attempt_id=attempt.id,
                    question_id=question_id,
                    selected_mask=mask,
                    is_correct=ok,
                )
            )
        await self.session.commit()
        return attempt
