"""SQL for attempts: the submit path is a fixed handful of statements, whatever the size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from qoach.models import Answer, Attempt, AttemptAnswer, Membership, Question, Quiz, QuizVersion


@dataclass(frozen=True, slots=True)
class SubmitContext:
    quiz_id: int
    company_id: int
    version: int
    version_id: int
    version_created_at: datetime
    role: str | None
    # the caller's earlier attempt with the same Idempotency-Key, if any
    existing_attempt_id: int | None
    existing_request_hash: str | None


async def submit_context(
    session: AsyncSession, quiz_id: int, user_id: int, idempotency_key: str | None
) -> SubmitContext | None:
    """Quiz, current version, the caller's role and a prior keyed attempt: one query."""
    columns: list[Any] = [
        Quiz.id,
        Quiz.company_id,
        Quiz.version,
        QuizVersion.id,
        Membership.role,
        QuizVersion.created_at,
    ]
    stmt = (
        select(*columns)
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
    if idempotency_key is not None:
        prior = aliased(Attempt)
        stmt = stmt.add_columns(prior.id, prior.request_hash).outerjoin(
            prior, and_(prior.user_id == user_id, prior.idempotency_key == idempotency_key)
        )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    prior_id, prior_hash = (row[6], row[7]) if idempotency_key is not None else (None, None)
    return SubmitContext(
        quiz_id=row[0],
        company_id=row[1],
        version=row[2],
        version_id=row[3],
        version_created_at=row[5],
        role=row[4],
        existing_attempt_id=prior_id,
        existing_request_hash=prior_hash,
    )


async def answer_key_rows(
    session: AsyncSession, quiz_version_id: int
) -> Sequence[tuple[int, int, int, bool]]:
    """`(question_id, answer_id, position, is_correct)` of a version, questions in order."""
    stmt = (
        select(Question.id, Answer.id, Answer.position, Answer.is_correct)
        .join(Answer, Answer.question_id == Question.id)
        .where(Question.quiz_version_id == quiz_version_id)
        .order_by(Question.position, Answer.position)
    )
    return [tuple(row) for row in (await session.execute(stmt)).all()]  # type: ignore[misc]


async def insert_attempt(session: AsyncSession, values: dict[str, Any]) -> int:
    stmt = insert(Attempt).values(**values).returning(Attempt.id)
    return int((await session.execute(stmt)).scalar_one())


_INSERT_ATTEMPT_ANSWERS = insert(AttemptAnswer)


async def insert_attempt_answers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Every answer of an attempt in ONE statement: an executemany of one cached INSERT.

    (A multi-row `.values(rows)` is compiled anew for every request; executemany
    reuses the compiled statement and asyncpg/SQLAlchemy's insertmanyvalues still
    sends the rows as one batch.)
    """
    if rows:
        await session.execute(_INSERT_ATTEMPT_ANSWERS, rows)


async def get_attempt(session: AsyncSession, attempt_id: int) -> Attempt | None:
    return await session.get(Attempt, attempt_id)


async def get_attempt_by_key(
    session: AsyncSession, user_id: int, idempotency_key: str
) -> Attempt | None:
    stmt = select(Attempt).where(
        Attempt.user_id == user_id, Attempt.idempotency_key == idempotency_key
    )
    return (await session.scalars(stmt)).one_or_none()


async def results_for(
    session: AsyncSession, attempt_ids: Sequence[int]
) -> dict[int, list[tuple[int, bool]]]:
    """`attempt_id → [(question_id, is_correct)]` in question order, for many attempts at once."""
    results: dict[int, list[tuple[int, bool]]] = {attempt_id: [] for attempt_id in attempt_ids}
    if not attempt_ids:
        return results
    stmt = (
        select(AttemptAnswer.attempt_id, AttemptAnswer.question_id, AttemptAnswer.is_correct)
        .join(Question, Question.id == AttemptAnswer.question_id)
        .where(AttemptAnswer.attempt_id.in_(attempt_ids))
        .order_by(AttemptAnswer.attempt_id, Question.position)
    )
    for attempt_id, question_id, is_correct in (await session.execute(stmt)).all():
        results[attempt_id].append((question_id, is_correct))
    return results


async def list_user_attempts(
    session: AsyncSession,
    user_id: int,
    *,
    quiz_id: int | None,
    company_id: int | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[Attempt], int]:
    conditions: list[Any] = [Attempt.user_id == user_id]
    if quiz_id is not None:
        conditions.append(Attempt.quiz_id == quiz_id)
    if company_id is not None:
        conditions.append(Attempt.company_id == company_id)
    if start is not None:
        conditions.append(Attempt.completed_at >= start)
    if end is not None:
        conditions.append(Attempt.completed_at < end)
    total = (
        await session.execute(select(func.count()).select_from(Attempt).where(*conditions))
    ).scalar_one()
    items = (
        await session.scalars(
            select(Attempt)
            .where(*conditions)
            .order_by(Attempt.completed_at.desc(), Attempt.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(items), int(total)
