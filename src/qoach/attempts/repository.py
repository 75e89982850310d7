"""SQL for attempts: the submit path is a fixed handful of statements, whatever the size.

Submitting checks the caller's login itself (the route takes the token's claims,
`TokenCallerDep`, not a loaded `User`), in the same statement as the quiz:

- PostgreSQL: ONE statement (`_PG_SUBMIT`) reads the login, the quiz, its current
  version, the caller's role and a prior attempt under the same Idempotency-Key,
  and inserts the attempt and all its answers only when the login is live, the
  version is the one the answers were scored against, the role may submit and no
  prior attempt exists (plain `INSERT … SELECT`s: row and statement triggers fire).
  Being one statement it is atomic alone, so it runs in autocommit
  (`submit_connection`): no BEGIN / COMMIT round trips.
- SQLite (no data-modifying CTEs, no arrays): the same reads in one query, then one
  INSERT of the attempt and one executemany of its answers, in the request's
  transaction (`BEGIN IMMEDIATE` serialises writers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import (
    BindParameter,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    insert,
    null,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from qoach.auth.dependencies import login_is_live
from qoach.companies.permissions import Action, can
from qoach.models import (
    Answer,
    Attempt,
    AttemptAnswer,
    AuthSession,
    CompanyRole,
    Membership,
    Question,
    Quiz,
    QuizVersion,
    User,
)
from qoach.quizzes.version_cache import VersionKey

Ts = TypeVarTuple("Ts")

# roles that may submit, as SQL literals (from the permission table, not from input)
_SUBMIT_ROLES = ", ".join(
    f"'{role.value}'" for role in CompanyRole if can(role, Action.attempts_submit)
)


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

    @property
    def version_key(self) -> VersionKey:
        return (self.version_id, self.version_created_at)


@dataclass(frozen=True, slots=True)
class SubmitState:
    """What the submit query found: is the login live, the quiz (None: no such quiz)."""

    login_live: bool
    context: SubmitContext | None
    # PostgreSQL: the attempt the same statement inserted, if it did
    attempt_id: int | None = None


def _context(row: Sequence[Any]) -> SubmitContext | None:
    """From `quiz_id, company_id, version, version_id, version_created_at, role,
    prior_id, prior_hash` (a missing quiz leaves them NULL)."""
    if row[0] is None or row[3] is None:
        return None
    return SubmitContext(
        quiz_id=row[0],
        company_id=row[1],
        version=row[2],
        version_id=row[3],
        version_created_at=row[4],
        role=row[5],
        existing_attempt_id=row[6],
        existing_request_hash=row[7],
    )


async def submit_connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, in autocommit on PostgreSQL if nothing ran on it yet.

    Only for statements that are atomic alone (`_PG_SUBMIT`) or that only read: each
    commits by itself, and the request's final COMMIT has nothing left to do.
    """
    if session.in_transaction():
        return await session.connection()
    return await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


# SQLite: login (+ its user), quiz, current version, the caller's role, a prior
# attempt under the same key (a NULL key matches nothing); built once
_prior = aliased(Attempt)
_user_id: BindParameter[int] = bindparam("user_id", type_=Integer)
_CONTEXT_COLUMNS = (
    Quiz.id,
    Quiz.company_id,
    Quiz.version,
    QuizVersion.id,
    QuizVersion.created_at,
    Membership.role,
    _prior.id,
    _prior.request_hash,
)


def _with_quiz(stmt: Select[*Ts]) -> Select[*Ts]:
    return (
        stmt.outerjoin(
            QuizVersion,
            and_(QuizVersion.quiz_id == Quiz.id, QuizVersion.version == Quiz.version),
        )
        .outerjoin(
            Membership,
            and_(Membership.company_id == Quiz.company_id, Membership.user_id == _user_id),
        )
        .outerjoin(
            _prior,
            and_(
                _prior.user_id == _user_id,
                _prior.idempotency_key == bindparam("idempotency_key"),
            ),
        )
    )


_CONTEXT_WITH_LOGIN = _with_quiz(
    select(AuthSession.revoked_at, AuthSession.expires_at, *_CONTEXT_COLUMNS)
    .select_from(AuthSession)
    .join(User, User.id == AuthSession.user_id)
    .outerjoin(Quiz, Quiz.id == bindparam("quiz_id"))
).where(AuthSession.id == bindparam("session_id"), AuthSession.user_id == _user_id)
_CONTEXT_NO_LOGIN = _with_quiz(
    select(null(), null(), *_CONTEXT_COLUMNS).where(Quiz.id == bindparam("quiz_id"))
)


async def submit_context(
    session: AsyncSession,
    *,
    quiz_id: int,
    user_id: int,
    session_id: int | None,
    idempotency_key: str | None,
) -> SubmitState:
    """Login, quiz, current version, role and a prior keyed attempt: one query.

    `session_id` None: an Auth0 caller, already resolved (no login row to check).
    """
    params = {
        "quiz_id": quiz_id,
        "user_id": user_id,
        "session_id": session_id,
        "idempotency_key": idempotency_key,
    }
    if session_id is None:
        found = (await session.execute(_CONTEXT_NO_LOGIN, params)).first()
        return SubmitState(True, None if found is None else _context(found[2:]))
    row = (await session.execute(_CONTEXT_WITH_LOGIN, params)).first()
    if row is None or not login_is_live(row[0], row[1]):
        return SubmitState(False, None)
    return SubmitState(True, _context(row[2:]))


# PostgreSQL: login + context + attempt + answers in one statement, always one row.
# The INSERTs run only when the login is live at `completed_at` ($8), the current
# version is the expected one ($4, $5: what the answers were scored against), the
# role may submit and no prior keyed attempt is visible. A racing twin with the same
# key is skipped by ON CONFLICT (after waiting for the twin's transaction), so the
# statement never fails on the key. Answers go in the order given (question
# position), so concurrent submits take their locks in the same order.
_PG_SUBMIT = f"""
WITH ctx AS (
    SELECT
        $13::int IS NULL OR (s.id IS NOT NULL AND s.revoked_at IS NULL AND s.expires_at > $8)
            AS login_live,
        q.id AS quiz_id, q.company_id, q.version, v.id AS version_id,
        v.created_at AS version_created_at, m.role, p.id AS prior_id,
        p.request_hash AS prior_hash
    FROM (SELECT 1) AS one
    LEFT JOIN (auth_sessions AS s JOIN users AS u ON u.id = s.user_id)
        ON s.id = $13 AND s.user_id = $2
    LEFT JOIN quizzes AS q ON q.id = $1
    LEFT JOIN quiz_versions AS v ON v.quiz_id = q.id AND v.version = q.version
    LEFT JOIN memberships AS m ON m.company_id = q.company_id AND m.user_id = $2
    LEFT JOIN attempts AS p ON p.user_id = $2 AND p.idempotency_key = $3
), a AS (
    INSERT INTO attempts (quiz_id, quiz_version_id, company_id, user_id, quiz_version,
        correct_count, question_count, completed_at, idempotency_key, request_hash)
    SELECT quiz_id, version_id, company_id, $2, version, $6, $7, $8, $3, $9
    FROM ctx
    WHERE login_live AND version_id = $4 AND version_created_at = $5
        AND prior_id IS NULL AND role IN ({_SUBMIT_ROLES})
    ON CONFLICT (user_id, idempotency_key) DO NOTHING
    RETURNING id
), n AS (
    INSERT INTO attempt_answers (attempt_id, question_id, selected_mask, is_correct)
    SELECT a.id, r.question_id, r.selected_mask, r.is_correct
    FROM a CROSS JOIN unnest($10::int[], $11::int2[], $12::bool[]) WITH ORDINALITY
        AS r(question_id, selected_mask, is_correct, ord)
    ORDER BY r.ord
)
SELECT ctx.*, (SELECT id FROM a) AS attempt_id FROM ctx
"""


@dataclass(frozen=True, slots=True)
class ScoredRows:
    """What to insert: the attempt's counts and its answers, in question order."""

    correct_count: int
    question_count: int
    question_ids: list[int]
    masks: list[int]
    correct: list[bool]


_NO_ROWS = ScoredRows(0, 0, [], [], [])


async def submit_pg(
    session: AsyncSession,
    *,
    quiz_id: int,
    user_id: int,
    session_id: int | None,
    idempotency_key: str | None,
    request_hash: str | None,
    expected: VersionKey | None,
    rows: ScoredRows | None,
    completed_at: datetime,
) -> SubmitState:
    """`_PG_SUBMIT`: what it found and, when everything matched, the inserted attempt.

    `expected=None` (or `rows=None`) only reads. Runs in autocommit when the session
    has not begun (`submit_connection`).
    """
    if expected is None or rows is None:
        expected, rows = (0, completed_at), _NO_ROWS
    conn = await submit_connection(session)
    result = await conn.exec_driver_sql(
        _PG_SUBMIT,
        (
            quiz_id,
            user_id,
            idempotency_key,
            expected[0],
            expected[1],
            rows.correct_count,
            rows.question_count,
            completed_at,
            request_hash,
            rows.question_ids,
            rows.masks,
            rows.correct,
            session_id,
        ),
    )
    row: Sequence[Any] = result.one()
    return SubmitState(bool(row[0]), _context(row[1:9]), row[9])


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


_INSERT_ATTEMPT = insert(Attempt).returning(Attempt.id)


async def insert_attempt(session: AsyncSession, values: dict[str, Any]) -> int:
    """One attempt row (a statement compiled once: the values are parameters)."""
    return int((await session.execute(_INSERT_ATTEMPT, values)).scalar_one())


_INSERT_ATTEMPT_ANSWERS = insert(AttemptAnswer)


async def insert_attempt_answers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Every answer of an attempt in ONE statement: an executemany of one cached INSERT.

    (A multi-row `.values(rows)` is compiled anew for every request; executemany
    reuses the compiled statement and the driver sends the rows as one batch.)
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
