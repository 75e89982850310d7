"""Aggregate SQL for analytics: grouped sums over attempts, never attempt rows.

Every query returns integer sums (Σ correct_count, Σ question_count, counts);
the service divides, so averages are exact and identical on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeAlias

from sqlalchemy import (
    Date,
    Float,
    Row,
    Select,
    Subquery,
    and_,
    case,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from qoach.analytics.schemas import Bucket
from qoach.dates import DateRange
from qoach.models import Answer, Attempt, AttemptAnswer, Membership, Question, Quiz, QuizVersion
from qoach.models import User as UserModel
from qoach.pagination import PageParams

AnyRow: TypeAlias = Row[*tuple[Any, ...]]

MAX_ANSWERS = 4  # answers.position is 0–3 (check constraint), one bit each in selected_mask


@dataclass(frozen=True, slots=True)
class Sums:
    """Σ correct_count, Σ question_count, attempts and the latest completion of a group."""

    correct: int = 0
    questions: int = 0
    attempts: int = 0
    last_at: datetime | None = None

    def __add__(self, other: Sums) -> Sums:
        lasts = [t for t in (self.last_at, other.last_at) if t is not None]
        return Sums(
            correct=self.correct + other.correct,
            questions=self.questions + other.questions,
            attempts=self.attempts + other.attempts,
            last_at=max(lasts) if lasts else None,
        )


def attempt_filters(
    dates: DateRange,
    *,
    user_id: int | None = None,
    company_id: int | None = None,
    quiz_id: int | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses on attempts: `start <= completed_at < end` and the optional ids."""
    clauses: list[ColumnElement[bool]] = []
    if dates.start is not None:
        clauses.append(Attempt.completed_at >= dates.start)
    if dates.end is not None:
        clauses.append(Attempt.completed_at < dates.end)
    if user_id is not None:
        clauses.append(Attempt.user_id == user_id)
    if company_id is not None:
        clauses.append(Attempt.company_id == company_id)
    if quiz_id is not None:
        clauses.append(Attempt.quiz_id == quiz_id)
    return clauses


def bucket_start(column: Any, bucket: Bucket, dialect: str) -> ColumnElement[date]:
    """The first day (UTC) of the day / ISO week / month holding `column`.

    Constants are literal SQL (from a fixed set), not bound parameters, so the
    expression in SELECT and GROUP BY compiles to the same text on PostgreSQL.
    """
    if dialect == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), column)  # timestamptz → UTC timestamp
        return cast(func.date_trunc(literal_column(f"'{bucket.value}'"), utc), Date)
    # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS.ffffff'; date() reads it directly
    modifiers = {
        Bucket.day: (),
        # back 6 days, then forward to the next Monday (or stay on it): that week's Monday
        Bucket.week: ("'-6 days'", "'weekday 1'"),
        Bucket.month: ("'start of month'",),
    }[bucket]
    return type_coerce(func.date(column, *map(literal_column, modifiers)), Date)


def _sums_columns() -> tuple[Any, ...]:
    return (
        func.sum(Attempt.correct_count).label("correct"),
        func.sum(Attempt.question_count).label("questions"),
        func.count(Attempt.id).label("attempts"),
        func.max(Attempt.completed_at).label("last_at"),
    )


def _grouped(key: Any, filters: Sequence[ColumnElement[bool]]) -> Subquery:
    """Attempts matching `filters`, summed per `key` (labelled `key`)."""
    return (
        select(key.label("key"), *_sums_columns()).where(*filters).group_by(key).subquery("stats")
    )


def sums_of(row: AnyRow | None) -> Sums:
    """Sums from a row with correct / questions / attempts (/ last_at); zeros for NULLs."""
    if row is None:
        return Sums()
    mapping = row._mapping
    return Sums(
        correct=int(mapping["correct"] or 0),
        questions=int(mapping["questions"] or 0),
        attempts=int(mapping["attempts"] or 0),
        last_at=mapping.get("last_at"),
    )


async def totals(session: AsyncSession, filters: Sequence[ColumnElement[bool]]) -> Sums:
    row = (await session.execute(select(*_sums_columns()).where(*filters))).one()
    return sums_of(row)


async def per_quiz_attempted(
    session: AsyncSession, filters: Sequence[ColumnElement[bool]]
) -> Sequence[AnyRow]:
    """(quiz_id, quiz_title, company_id, sums…) for each quiz with attempts, by quiz id."""
    stats = _grouped(Attempt.quiz_id, filters)
    stmt = (
        select(
            Quiz.id.label("quiz_id"),
            Quiz.title.label("quiz_title"),
            Quiz.company_id,
            stats.c.correct,
            stats.c.questions,
            stats.c.attempts,
            stats.c.last_at,
        )
        .join(stats, stats.c.key == Quiz.id)
        .order_by(Quiz.id)
    )
    return (await session.execute(stmt)).all()


async def per_company_quiz(
    session: AsyncSession, company_id: int, filters: Sequence[ColumnElement[bool]]
) -> Sequence[AnyRow]:
    """Every quiz of the company, outer-joined to its sums (NULL sums without attempts)."""
    stats = _grouped(Attempt.quiz_id, filters)
    stmt = (
        select(
            Quiz.id.label("quiz_id"),
            Quiz.title.label("quiz_title"),
            stats.c.correct,
            stats.c.questions,
            stats.c.attempts,
            stats.c.last_at,
        )
        .outerjoin(stats, stats.c.key == Quiz.id)
        .where(Quiz.company_id == company_id)
        .order_by(Quiz.id)
    )
    return (await session.execute(stmt)).all()


async def per_member(
    session: AsyncSession, company_id: int, filters: Sequence[ColumnElement[bool]]
) -> Sequence[AnyRow]:
    """Every current member, outer-joined to their sums in the company."""
    stats = _grouped(Attempt.user_id, filters)
    stmt = (
        select(
            Membership.user_id,
            stats.c.correct,
            stats.c.questions,
            stats.c.attempts,
            stats.c.last_at,
        )
        .outerjoin(stats, stats.c.key == Membership.user_id)
        .where(Membership.company_id == company_id)
        .order_by(Membership.user_id)
    )
    return (await session.execute(stmt)).all()


async def timeline(
    session: AsyncSession,
    filters: Sequence[ColumnElement[bool]],
    bucket: Bucket,
) -> Sequence[AnyRow]:
    """(bucket_start, correct, questions, attempts) per non-empty bucket, ascending."""
    start = bucket_start(Attempt.completed_at, bucket, session.get_bind().dialect.name)
    stmt = (
        select(
            start.label("bucket_start"),
            func.sum(Attempt.correct_count).label("correct"),
            func.sum(Attempt.question_count).label("questions"),
            func.count(Attempt.id).label("attempts"),
        )
        .where(*filters)
        .group_by(start)
        .order_by(start)
    )
    return (await session.execute(stmt)).all()


async def is_member(session: AsyncSession, company_id: int, user_id: int) -> bool:
    stmt = select(Membership.id).where(
        Membership.company_id == company_id, Membership.user_id == user_id
    )
    return (await session.execute(stmt)).first() is not None


async def _page(
    session: AsyncSession, stmt: Select[Any], page: PageParams
) -> tuple[Sequence[AnyRow], int]:
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = (await session.execute(stmt.limit(page.limit).offset(page.offset))).all()
    return rows, int(total)


async def last_attempts(
    session: AsyncSession,
    company_id: int,
    filters: Sequence[ColumnElement[bool]],
    page: PageParams,
) -> tuple[Sequence[AnyRow], int]:
    """Members with their latest attempt time (NULL if none), latest first, NULLs last."""
    stats = _grouped(Attempt.user_id, filters)
    stmt = (
        select(
            Membership.user_id,
            UserModel.email.label("user_email"),
            stats.c.last_at,
        )
        .join(UserModel, UserModel.id == Membership.user_id)
        .outerjoin(stats, stats.c.key == Membership.user_id)
        .where(Membership.company_id == company_id)
        .order_by(stats.c.last_at.desc().nulls_last(), Membership.user_id)
    )
    return await _page(session, stmt, page)


async def leaderboard(
    session: AsyncSession,
    company_id: int,
    filters: Sequence[ColumnElement[bool]],
    page: PageParams,
) -> tuple[Sequence[AnyRow], int]:
    """Current members with attempts, by average desc, attempts desc, user id asc."""
    stats = _grouped(Attempt.user_id, filters)
    average = cast(stats.c.correct, Float) / stats.c.questions
    stmt = (
        select(
            Membership.user_id,
            UserModel.email.label("user_email"),
            stats.c.correct,
            stats.c.questions,
            stats.c.attempts,
        )
        .join(stats, stats.c.key == Membership.user_id)
        .join(UserModel, UserModel.id == Membership.user_id)
        .where(Membership.company_id == company_id)
        .order_by(average.desc(), stats.c.attempts.desc(), Membership.user_id)
    )
    return await _page(session, stmt, page)


async def quiz_current_version(session: AsyncSession, quiz_id: int) -> AnyRow | None:
    """(Quiz, version id, question count) of the quiz's current version."""
    stmt = (
        select(Quiz, QuizVersion.id.label("version_id"), QuizVersion.question_count)
        .join(
            QuizVersion,
            and_(QuizVersion.quiz_id == Quiz.id, QuizVersion.version == Quiz.version),
        )
        .where(Quiz.id == quiz_id)
    )
    return (await session.execute(stmt)).first()


def _version_filters(version_id: int, dates: DateRange) -> list[ColumnElement[bool]]:
    return [Attempt.quiz_version_id == version_id, *attempt_filters(dates)]


async def score_distribution(
    session: AsyncSession, version_id: int, dates: DateRange
) -> dict[int, int]:
    """correct_count → number of attempts (at most question_count + 1 rows)."""
    stmt = (
        select(Attempt.correct_count, func.count(Attempt.id))
        .where(*_version_filters(version_id, dates))
        .group_by(Attempt.correct_count)
    )
    return {int(c): int(n) for c, n in (await session.execute(stmt)).all()}


async def question_sums(
    session: AsyncSession, version_id: int, dates: DateRange
) -> Sequence[AnyRow]:
    """Per question: Σx, Σ(x·total) and, per answer position p, Σ((mask >> p) & 1)."""
    correct = case((AttemptAnswer.is_correct, 1), else_=0)
    correct_times_total = case((AttemptAnswer.is_correct, Attempt.correct_count), else_=0)
    chosen = [
        func.sum(AttemptAnswer.selected_mask.bitwise_rshift(p).bitwise_and(1)).label(f"chosen_{p}")
        for p in range(MAX_ANSWERS)
    ]
    stmt = (
        select(
            AttemptAnswer.question_id,
            func.sum(correct).label("correct"),
            func.sum(correct_times_total).label("correct_times_total"),
            *chosen,
        )
        .join(Attempt, Attempt.id == AttemptAnswer.attempt_id)
        .where(*_version_filters(version_id, dates))
        .group_by(AttemptAnswer.question_id)
    )
    rows: Sequence[AnyRow] = (await session.execute(stmt)).all()
    return rows


async def version_questions(session: AsyncSession, version_id: int) -> Sequence[AnyRow]:
    """Questions of the version with their answers, one row per answer, in position order."""
    stmt = (
        select(
            Question.id.label("question_id"),
            Question.text.label("question_text"),
            Answer.id.label("answer_id"),
            Answer.position.label("answer_position"),
            Answer.text.label("answer_text"),
            Answer.is_correct,
        )
        .join(Answer, Answer.question_id == Question.id)
        .where(Question.quiz_version_id == version_id)
        .order_by(Question.position, Answer.position)
    )
    return (await session.execute(stmt)).all()
