"""SQL for quizzes: access lookups, the version with its questions, set-based writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import contains_eager

from qoach.models import Answer, AuthSession, Membership, Question, Quiz, QuizVersion, User
from qoach.pagination import escape_like
from qoach.quizzes.schemas import QuestionCreate


@dataclass(frozen=True, slots=True)
class PublicQuizRow:
    fields: dict[str, Any]  # the quiz's own columns, as the public view shows them
    role: str | None
    version_id: int
    version_created_at: datetime


async def get_public_quiz_row(
    session: AsyncSession, quiz_id: int, user_id: int
) -> PublicQuizRow | None:
    """The quiz's columns, the caller's role and the current version's id: one query."""
    stmt = (
        select(
            Quiz.id,
            Quiz.company_id,
            Quiz.title,
            Quiz.description,
            Quiz.frequency_days,
            Quiz.version,
            Quiz.created_at,
            Quiz.updated_at,
            Membership.role,
            QuizVersion.id.label("version_id"),
            QuizVersion.created_at.label("version_created_at"),
        )
        .join(
            QuizVersion,
            and_(QuizVersion.quiz_id == Quiz.id, QuizVersion.version == Quiz.version),
        )
        .outerjoin(
            Membership,
            and_(Membership.company_id == Quiz.company_id, Membership.user_id == user_id),
        )
        .where(Quiz.id == quiz_id)
    )
    row = (await session.execute(stmt)).mappings().first()
    if row is None:
        return None
    fields = dict(row)
    role = fields.pop("role")
    version_id = fields.pop("version_id")
    version_created_at = fields.pop("version_created_at")
    return PublicQuizRow(fields, role, version_id, version_created_at)


# Core tables (no ORM compile step) for the statement below, built once per process
_quizzes = Quiz.__table__
_versions = QuizVersion.__table__
_memberships = Membership.__table__
_logins = AuthSession.__table__
_users = User.__table__

# the columns of `QuizPublicHead`, in its field order
PUBLIC_HEAD_COLUMNS = (
    _quizzes.c.id,
    _quizzes.c.company_id,
    _quizzes.c.title,
    _quizzes.c.description,
    _quizzes.c.frequency_days,
    _quizzes.c.version,
    _quizzes.c.created_at,
    _quizzes.c.updated_at,
)
PUBLIC_HEAD_FIELDS = tuple(column.name for column in PUBLIC_HEAD_COLUMNS)

_PUBLIC_VIEW_WITH_LOGIN = (
    select(
        _logins.c.revoked_at,
        _logins.c.expires_at,
        _memberships.c.role,
        _versions.c.id,
        _versions.c.created_at,
        *PUBLIC_HEAD_COLUMNS,
    )
    .select_from(_logins)
    .join(_users, _users.c.id == _logins.c.user_id)
    .outerjoin(_quizzes, _quizzes.c.id == bindparam("quiz_id"))
    .outerjoin(
        _versions,
        and_(_versions.c.quiz_id == _quizzes.c.id, _versions.c.version == _quizzes.c.version),
    )
    .outerjoin(
        _memberships,
        and_(
            _memberships.c.company_id == _quizzes.c.company_id,
            _memberships.c.user_id == _logins.c.user_id,
        ),
    )
    .where(_logins.c.id == bindparam("session_id"), _logins.c.user_id == bindparam("user_id"))
)


async def read_only_connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, for a request that only reads.

    When the session has not begun yet: on PostgreSQL in autocommit (no BEGIN / COMMIT
    round trips; each statement is its own consistent snapshot), on SQLite with a
    DEFERRED begin (a read does not take the write lock). Never write through it.
    """
    if session.in_transaction():
        return await session.connection()
    dialect = session.get_bind().dialect.name
    options = (
        {"isolation_level": "AUTOCOMMIT"}
        if dialect == "postgresql"
        else {"sqlite_begin": "DEFERRED"}
        if dialect == "sqlite"
        else {}
    )
    return await session.connection(execution_options=options)


@dataclass(frozen=True, slots=True)
class PublicViewRow:
    """The caller's login, their role in the quiz's company and the quiz's public head."""

    login_revoked_at: datetime | None
    login_expires_at: datetime
    role: str | None  # None: not a member (or no such quiz)
    version_id: int | None  # None: no such quiz
    version_created_at: datetime | None
    head: tuple[Any, ...]  # PUBLIC_HEAD_FIELDS' values


async def get_public_view_row(
    session: AsyncSession, *, quiz_id: int, user_id: int, session_id: int
) -> PublicViewRow | None:
    """The login `session_id` of `user_id` (joined to the user) and the quiz: one query.

    None when that login or its user does not exist; the quiz columns are None when the
    quiz does not exist. The caller checks the login (revoked, expired) first.
    """
    connection = await read_only_connection(session)
    row = (
        await connection.execute(
            _PUBLIC_VIEW_WITH_LOGIN,
            {"quiz_id": quiz_id, "session_id": session_id, "user_id": user_id},
        )
    ).first()
    if row is None:
        return None
    return PublicViewRow(row[0], row[1], row[2], row[3], row[4], tuple(row[5:]))


async def public_question_rows(
    session: AsyncSession, version_id: int
) -> Sequence[tuple[int, str, int, str]]:
    """`(question_id, question_text, answer_id, answer_text)` of a version, in order."""
    stmt = (
        select(Question.id, Question.text, Answer.id, Answer.text)
        .join(Answer, Answer.question_id == Question.id)
        .where(Question.quiz_version_id == version_id)
        .order_by(Question.position, Answer.position)
    )
    return [tuple(row) for row in (await session.execute(stmt)).all()]  # type: ignore[misc]


async def get_quiz(session: AsyncSession, quiz_id: int) -> Quiz | None:
    return await session.get(Quiz, quiz_id)


async def get_version(session: AsyncSession, quiz_id: int, number: int) -> QuizVersion | None:
    """A version with its questions and answers in order, in one joined query."""
    stmt = (
        select(QuizVersion)
        .join(QuizVersion.questions)
        .join(Question.answers)
        .options(contains_eager(QuizVersion.questions).contains_eager(Question.answers))
        .where(QuizVersion.quiz_id == quiz_id, QuizVersion.version == number)
        .order_by(Question.position, Answer.position)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).unique().one_or_none()


async def insert_quiz(
    session: AsyncSession,
    *,
    company_id: int,
    author_id: int | None,
    title: str,
    description: str | None,
    frequency_days: int,
) -> Quiz:
    quiz = Quiz(
        company_id=company_id,
        created_by_id=author_id,
        title=title,
        description=description,
        frequency_days=frequency_days,
        version=1,
    )
    session.add(quiz)
    await session.flush()
    return quiz


async def bump_version(
    session: AsyncSession,
    quiz_id: int,
    *,
    title: str,
    description: str | None,
    frequency_days: int,
    now: datetime,
) -> int:
    """Replace the editable fields and add 1 to `version` atomically; the new number."""
    stmt = (
        update(Quiz)
        .where(Quiz.id == quiz_id)
        .values(
            version=Quiz.version + 1,
            title=title,
            description=description,
            frequency_days=frequency_days,
            updated_at=now,
        )
        .returning(Quiz.version)
        .execution_options(synchronize_session=False)
    )
    return int((await session.execute(stmt)).scalar_one())


_INSERT_QUESTIONS = insert(Question).returning(Question.position, Question.id)
_INSERT_ANSWERS = insert(Answer)


async def insert_version(
    session: AsyncSession, quiz_id: int, number: int, questions: Sequence[QuestionCreate]
) -> int:
    """Write a version, its questions and answers with three set-based INSERTs; its id."""
    version_id = (
        await session.execute(
            insert(QuizVersion)
            .values(quiz_id=quiz_id, version=number, question_count=len(questions))
            .returning(QuizVersion.id)
        )
    ).scalar_one()
    # executemany of one cached INSERT (insertmanyvalues sends the rows in batches);
    # RETURNING order is not guaranteed (SQLite), so map by position (asking for
    # sort_by_parameter_order would make SQLite send one INSERT per row)
    returned = await session.execute(
        _INSERT_QUESTIONS,
        [
            {"quiz_version_id": version_id, "position": position, "text": question.text}
            for position, question in enumerate(questions)
        ],
    )
    id_at = {position: question_id for position, question_id in returned.all()}
    question_ids = [id_at[position] for position in range(len(questions))]
    answer_rows: list[dict[str, Any]] = [
        {
            "question_id": question_id,
            "position": position,
            "text": answer.text,
            "is_correct": answer.is_correct,
        }
        for question_id, question in zip(question_ids, questions, strict=True)
        for position, answer in enumerate(question.answers)
    ]
    await session.execute(_INSERT_ANSWERS, answer_rows)
    return int(version_id)


async def company_member_ids(
    session: AsyncSession, company_id: int, *, exclude_user_id: int | None
) -> list[int]:
    stmt = select(Membership.user_id).where(Membership.company_id == company_id)
    if exclude_user_id is not None:
        stmt = stmt.where(Membership.user_id != exclude_user_id)
    return list((await session.scalars(stmt)).all())


async def delete_quiz(session: AsyncSession, quiz_id: int) -> None:
    """Delete a quiz; versions, questions, answers and attempts go by ON DELETE CASCADE."""
    await session.execute(
        delete(Quiz).where(Quiz.id == quiz_id).execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class QuizSummaryRow:
    id: int
    company_id: int
    title: str
    description: str | None
    frequency_days: int
    version: int
    question_count: int
    created_at: datetime
    updated_at: datetime


def _summaries(company_id: int, search: str | None) -> Select[*tuple[Any, ...]]:
    stmt: Select[*tuple[Any, ...]] = (
        select(
            Quiz.id,
            Quiz.company_id,
            Quiz.title,
            Quiz.description,
            Quiz.frequency_days,
            Quiz.version,
            QuizVersion.question_count,
            Quiz.created_at,
            Quiz.updated_at,
        )
        .join(
            QuizVersion,
            and_(QuizVersion.quiz_id == Quiz.id, QuizVersion.version == Quiz.version),
        )
        .where(Quiz.company_id == company_id)
    )
    if search:
        stmt = stmt.where(Quiz.title.ilike(f"%{escape_like(search)}%", escape="\\"))
    return stmt


async def list_summaries(
    session: AsyncSession, company_id: int, *, search: str | None, limit: int, offset: int
) -> tuple[list[QuizSummaryRow], int]:
    base = _summaries(company_id, search)
    total = (
        await session.execute(select(func.count()).select_from(base.order_by(None).subquery()))
    ).scalar_one()
    rows = (await session.execute(base.order_by(Quiz.id.desc()).limit(limit).offset(offset))).all()
    return [QuizSummaryRow(*row) for row in rows], int(total)
