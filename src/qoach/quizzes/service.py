"""Quiz rules: who may see or change a quiz, versioning, the `quiz_created` event.

Functions flush and never commit. `create_quiz` and `replace_quiz` are shared with
the Excel import; the `*_view` functions are what the routes call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from qoach.auth.dependencies import INVALID_TOKEN, TokenCaller, login_is_live
from qoach.broker import Broker
from qoach.companies.permissions import Action, CompanyAccess, can, ensure
from qoach.companies.repository import get_with_caller_role
from qoach.db.types import utcnow
from qoach.errors import Forbidden, NotFound, Unauthorized
from qoach.models import NotificationKind, Quiz, QuizVersion, User
from qoach.notifications.events import notify
from qoach.pagination import Page, PageParams
from qoach.quizzes import repository
from qoach.quizzes.schemas import (
    AnswerPublicRead,
    QuestionPublicRead,
    QuizAdminRead,
    QuizCreate,
    QuizPublicHead,
    QuizSummary,
    QuizUpdate,
)
from qoach.quizzes.version_cache import BoundedLRU


def quiz_not_found() -> NotFound:
    return NotFound("Quiz not found", code="quiz_not_found")


async def quiz_for_user(
    session: AsyncSession, quiz_id: int, user: User, action: Action
) -> tuple[Quiz, str]:
    """The quiz and the caller's role, checked against `action`.

    A quiz is visible only to members of its company: anyone else gets the same
    404 as for a quiz that does not exist (a visible company does not make its
    quizzes visible). Members whose role does not allow `action` get 403.
    """
    found = await get_with_caller_role(session, Quiz, quiz_id, user.id)
    quiz, role = found if found is not None else (None, None)
    if quiz is None or role is None:
        raise quiz_not_found()
    if not can(role, action):
        raise Forbidden("Your role in this company does not allow this", code="forbidden_role")
    return quiz, role


async def load_version(session: AsyncSession, quiz: Quiz) -> QuizVersion:
    """The quiz's current version with its questions and answers (one statement)."""
    version = await repository.get_version(session, quiz.id, quiz.version)
    if version is None:  # a quiz always has its current version; never a 500 if not
        raise quiz_not_found()
    return version


async def load_quiz_for_admin(session: AsyncSession, quiz_id: int) -> tuple[Quiz, QuizVersion]:
    """The quiz and its current version with questions and answers; no access check."""
    quiz = await repository.get_quiz(session, quiz_id)
    if quiz is None:
        raise quiz_not_found()
    return quiz, await load_version(session, quiz)


async def create_quiz(
    session: AsyncSession,
    broker: Broker,
    *,
    company_id: int,
    author_id: int | None,
    data: QuizCreate,
    notify_members: bool = True,
) -> Quiz:
    """Create a quiz at version 1; tell every other member of the company (after commit)."""
    quiz = await repository.insert_quiz(
        session,
        company_id=company_id,
        author_id=author_id,
        title=data.title,
        description=data.description,
        frequency_days=data.frequency_days,
    )
    await repository.insert_version(session, quiz.id, 1, data.questions)
    if notify_members:
        recipients = await repository.company_member_ids(
            session, company_id, exclude_user_id=author_id
        )
        await notify(
            session,
            broker,
            user_ids=recipients,
            kind=NotificationKind.quiz_created,
            title=f"New quiz: {quiz.title}",
            body=quiz.description or "",
            company_id=company_id,
            payload={"quiz_id": quiz.id, "company_id": company_id, "title": quiz.title},
        )
    return quiz


async def replace_quiz(session: AsyncSession, quiz: Quiz, data: QuizCreate) -> Quiz:
    """A new version of the whole definition (version + 1); past versions stay as they were."""
    now = utcnow()
    number = await repository.bump_version(
        session,
        quiz.id,
        title=data.title,
        description=data.description,
        frequency_days=data.frequency_days,
        now=now,
    )
    await repository.insert_version(session, quiz.id, number, data.questions)
    # the UPDATE ran without ORM synchronisation: mirror it on the loaded object
    for field, value in (
        ("version", number),
        ("title", data.title),
        ("description", data.description),
        ("frequency_days", data.frequency_days),
        ("updated_at", now),
    ):
        set_committed_value(quiz, field, value)
    return quiz


# --- what the routes call ---------------------------------------------------------


async def create_quiz_view(
    session: AsyncSession, broker: Broker, access: CompanyAccess, data: QuizCreate
) -> QuizAdminRead:
    ensure(access, Action.quizzes_manage)
    quiz = await create_quiz(
        session, broker, company_id=access.company.id, author_id=access.user.id, data=data
    )
    return QuizAdminRead.build(quiz, await load_version(session, quiz))


async def list_quizzes(
    session: AsyncSession, access: CompanyAccess, page: PageParams, search: str | None
) -> Page[QuizSummary]:
    ensure(access, Action.quizzes_read)
    rows, total = await repository.list_summaries(
        session, access.company.id, search=search, limit=page.limit, offset=page.offset
    )
    return Page[QuizSummary](
        items=[QuizSummary.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


_PUBLIC_QUESTIONS_JSON = TypeAdapter(list[QuestionPublicRead])
# Encoded public views, per process, keyed by everything they are made of: the quiz's
# head columns and its version (immutable questions). A PATCH or PUT changes the key,
# so an entry is never stale; who may read it is checked before every lookup.
PUBLIC_VIEWS: BoundedLRU[bytes] = BoundedLRU(1024)


async def get_public_view(session: AsyncSession, quiz_id: int, user: User) -> bytes:
    """The public view (`QuizPublicRead`) as JSON bytes, for an authenticated `user`."""
    return await get_public_view_for(session, quiz_id, TokenCaller(user.id, None))


async def get_public_view_for(session: AsyncSession, quiz_id: int, caller: TokenCaller) -> bytes:
    """The public view (`QuizPublicRead`) as JSON bytes; 401 unless the login is live.

    One query answers who may read what, every time: the caller's login (not revoked
    nor expired, its user still there), the quiz row (a PATCH changes the title) and
    the caller's membership (a removed member gets 404). Only the encoded view is
    cached, keyed by the exact head (the quiz's columns) and version (`PUBLIC_VIEWS`);
    the version's questions are read on a miss. Read-only: on a session that has not
    begun, the statements run without a transaction on PostgreSQL
    (`repository.read_only_connection`).
    """
    role: str | None
    version_id: int | None
    version_created_at: datetime | None
    if caller.session_id is None:  # an Auth0 user, resolved by the dependency
        await repository.read_only_connection(session)
        found = await repository.get_public_quiz_row(session, quiz_id, caller.user_id)
        if found is None:
            raise quiz_not_found()
        role, version_id, version_created_at = (
            found.role,
            found.version_id,
            found.version_created_at,
        )
        head = tuple(found.fields[name] for name in repository.PUBLIC_HEAD_FIELDS)
    else:
        row = await repository.get_public_view_row(
            session, quiz_id=quiz_id, user_id=caller.user_id, session_id=caller.session_id
        )
        if row is None or not login_is_live(row.login_revoked_at, row.login_expires_at):
            raise Unauthorized(INVALID_TOKEN)
        role, version_id, version_created_at, head = (
            row.role,
            row.version_id,
            row.version_created_at,
            row.head,
        )
    if role is None or version_id is None or version_created_at is None:
        raise quiz_not_found()
    if not can(role, Action.quizzes_read):
        raise Forbidden("Your role in this company does not allow this", code="forbidden_role")
    view_key = (head, version_id, version_created_at)
    body = PUBLIC_VIEWS.get(view_key)
    if body is None:
        body = await _encode_public_view(session, head, version_id)
        PUBLIC_VIEWS.put(view_key, body)
    return body


async def _encode_public_view(
    session: AsyncSession, head: tuple[Any, ...], version_id: int
) -> bytes:
    questions = _PUBLIC_QUESTIONS_JSON.dump_json(
        _public_questions(await repository.public_question_rows(session, version_id))
    )
    fields = dict(zip(repository.PUBLIC_HEAD_FIELDS, head, strict=True))
    encoded = QuizPublicHead(**fields).model_dump_json().encode()
    return encoded[:-1] + b',"questions":' + questions + b"}"


def _public_questions(rows: Sequence[tuple[int, str, int, str]]) -> list[QuestionPublicRead]:
    questions: dict[int, QuestionPublicRead] = {}
    for question_id, question_text, answer_id, answer_text in rows:
        question = questions.get(question_id)
        if question is None:
            question = questions[question_id] = QuestionPublicRead(
                id=question_id, text=question_text, answers=[]
            )
        question.answers.append(AnswerPublicRead(id=answer_id, text=answer_text))
    return list(questions.values())


async def get_admin_view(session: AsyncSession, quiz_id: int, user: User) -> QuizAdminRead:
    quiz, _ = await quiz_for_user(session, quiz_id, user, Action.quizzes_manage)
    return QuizAdminRead.build(quiz, await load_version(session, quiz))


async def replace_quiz_view(
    session: AsyncSession, quiz_id: int, user: User, data: QuizCreate
) -> QuizAdminRead:
    quiz, _ = await quiz_for_user(session, quiz_id, user, Action.quizzes_manage)
    quiz = await replace_quiz(session, quiz, data)
    return QuizAdminRead.build(quiz, await load_version(session, quiz))


async def update_quiz_view(
    session: AsyncSession, quiz_id: int, user: User, data: QuizUpdate
) -> QuizAdminRead:
    quiz, _ = await quiz_for_user(session, quiz_id, user, Action.quizzes_manage)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(quiz, field, value)
    await session.flush()  # `updated_at` moves only when something changed
    return QuizAdminRead.build(quiz, await load_version(session, quiz))


async def delete_quiz(session: AsyncSession, quiz_id: int, user: User) -> None:
    quiz, _ = await quiz_for_user(session, quiz_id, user, Action.quizzes_manage)
    await repository.delete_quiz(session, quiz.id)
