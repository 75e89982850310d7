"""Attempt rules: submit (scored on the server, idempotent), read, history.

The submit path costs a fixed number of statements whatever the quiz size: the
quiz with the caller's role (and a prior attempt under the same Idempotency-Key),
the answer key of the current version (cached per version in the process: versions
are immutable), one INSERT of the attempt and one
multi-row INSERT of its answers — all in the request's one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.attempts import repository
from qoach.attempts.schemas import AttemptCreate, AttemptRead, AttemptResult
from qoach.attempts.scoring import (
    InvalidSubmission,
    KeyQuestion,
    SubmittedAnswer,
    build_key,
    score_submission,
)
from qoach.companies.permissions import Action, can
from qoach.companies.repository import get_with_caller_role
from qoach.dates import DateRange
from qoach.db.types import utcnow
from qoach.errors import Conflict, Forbidden, NotFound, Unprocessable, field_error
from qoach.models import Attempt, User
from qoach.pagination import Page, PageParams
from qoach.quizzes.service import quiz_not_found
from qoach.quizzes.version_cache import BoundedLRU

# answer keys of quiz versions (immutable), per process
ANSWER_KEYS: BoundedLRU[list[KeyQuestion]] = BoundedLRU(1024)


def attempt_not_found() -> NotFound:
    return NotFound("Attempt not found", code="attempt_not_found")


def request_hash(quiz_id: int, data: AttemptCreate) -> str:
    """SHA-256 of the canonical submission (item order and id order do not matter)."""
    canonical = {
        "quiz_id": quiz_id,
        "answers": sorted([item.question_id, sorted(item.answer_ids)] for item in data.answers),
    }
    encoded = json.dumps(canonical, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()


def _key_reused() -> Unprocessable:
    message = "This Idempotency-Key was already used with a different request"
    return Unprocessable(
        message,
        code="idempotency_key_reused",
        extra={
            "detail": [
                {"type": "value_error", "loc": ["header", "Idempotency-Key"], "msg": message}
            ]
        },
    )


def _read(attempt: Attempt, results: Sequence[tuple[int, bool]]) -> AttemptRead:
    return AttemptRead(
        id=attempt.id,
        quiz_id=attempt.quiz_id,
        company_id=attempt.company_id,
        user_id=attempt.user_id,
        quiz_version=attempt.quiz_version,
        correct_count=attempt.correct_count,
        question_count=attempt.question_count,
        score=attempt.correct_count / attempt.question_count if attempt.question_count else 0.0,
        completed_at=attempt.completed_at,
        results=[AttemptResult(question_id=q, is_correct=ok) for q, ok in results],
    )


async def _read_attempt(session: AsyncSession, attempt: Attempt) -> AttemptRead:
    results = await repository.results_for(session, [attempt.id])
    return _read(attempt, results[attempt.id])


async def _replay(
    session: AsyncSession, attempt: Attempt | None, stored_hash: str | None, new_hash: str
) -> AttemptRead:
    """The first response for a retried submission, or 422 when the body differs."""
    if attempt is None:
        raise attempt_not_found()
    if stored_hash != new_hash:
        raise _key_reused()
    return await _read_attempt(session, attempt)


async def submit_attempt(
    session: AsyncSession,
    quiz_id: int,
    user: User,
    data: AttemptCreate,
    idempotency_key: str | None = None,
) -> AttemptRead:
    ctx = await repository.submit_context(session, quiz_id, user.id, idempotency_key)
    if ctx is None or ctx.role is None:
        raise quiz_not_found()
    if not can(ctx.role, Action.attempts_submit):
        raise Forbidden("Your role in this company does not allow this", code="forbidden_role")

    digest = request_hash(quiz_id, data) if idempotency_key is not None else None
    if ctx.existing_attempt_id is not None and digest is not None:
        prior = await repository.get_attempt(session, ctx.existing_attempt_id)
        return await _replay(session, prior, ctx.existing_request_hash, digest)

    version_key = (ctx.version_id, ctx.version_created_at)
    key = ANSWER_KEYS.get(version_key)
    if key is None:  # versions are immutable: one query per version per process
        key = build_key(await repository.answer_key_rows(session, ctx.version_id))
        if key:
            ANSWER_KEYS.put(version_key, key)
    try:
        scored = score_submission(
            key,
            [SubmittedAnswer(item.question_id, item.answer_ids) for item in data.answers],
        )
    except InvalidSubmission as exc:
        raise field_error(("body", "answers", *exc.loc), exc.message) from exc

    completed_at = utcnow()
    values = {
        "quiz_id": ctx.quiz_id,
        "quiz_version_id": ctx.version_id,
        "company_id": ctx.company_id,
        "user_id": user.id,
        "quiz_version": ctx.version,
        "correct_count": scored.correct_count,
        "question_count": scored.question_count,
        "completed_at": completed_at,
        "idempotency_key": idempotency_key,
        "request_hash": digest,
    }
    try:
        if idempotency_key is None:
            attempt_id = await repository.insert_attempt(session, values)
        else:
            # a racing twin holds the key: our INSERT hits the unique index and
            # only this savepoint rolls back, so we can read and return its attempt
            async with session.begin_nested():
                attempt_id = await repository.insert_attempt(session, values)
    except IntegrityError as exc:
        winner = (
            await repository.get_attempt_by_key(session, user.id, idempotency_key)
            if idempotency_key is not None
            else None
        )
        if winner is None or digest is None:
            raise Conflict(
                "The quiz changed while the attempt was submitted", code="quiz_changed"
            ) from exc
        return await _replay(session, winner, winner.request_hash, digest)

    await repository.insert_attempt_answers(
        session,
        [
            {
                "attempt_id": attempt_id,
                "question_id": result.question_id,
                "selected_mask": result.selected_mask,
                "is_correct": result.is_correct,
            }
            for result in scored.results
        ],
    )
    return AttemptRead(
        id=attempt_id,
        quiz_id=ctx.quiz_id,
        company_id=ctx.company_id,
        user_id=user.id,
        quiz_version=ctx.version,
        correct_count=scored.correct_count,
        question_count=scored.question_count,
        score=scored.score,
        completed_at=completed_at,
        results=[
            AttemptResult(question_id=r.question_id, is_correct=r.is_correct)
            for r in scored.results
        ],
    )


async def get_attempt(session: AsyncSession, attempt_id: int, user: User) -> AttemptRead:
    """Its user, or staff of its company; anyone else gets 404."""
    found = await get_with_caller_role(session, Attempt, attempt_id, user.id)
    if found is None:
        raise attempt_not_found()
    attempt, role = found
    if attempt.user_id != user.id and not can(role, Action.attempts_read_any):
        raise attempt_not_found()
    return await _read_attempt(session, attempt)


async def list_my_attempts(
    session: AsyncSession,
    user: User,
    page: PageParams,
    dates: DateRange,
    *,
    quiz_id: int | None,
    company_id: int | None,
) -> Page[AttemptRead]:
    attempts, total = await repository.list_user_attempts(
        session,
        user.id,
        quiz_id=quiz_id,
        company_id=company_id,
        start=dates.start,
        end=dates.end,
        limit=page.limit,
        offset=page.offset,
    )
    results = await repository.results_for(session, [attempt.id for attempt in attempts])
    return Page[AttemptRead](
        items=[_read(attempt, results[attempt.id]) for attempt in attempts],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
