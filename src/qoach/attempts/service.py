"""Attempt rules: submit (scored on the server, idempotent), read, history.

Submitting costs a fixed number of statements whatever the quiz size. The caller
comes as token claims (`TokenCaller`): the login is checked in the submit query
itself, not by a query of its own. The answer key of a version is cached in the
process (versions are immutable), and so is the current version of each quiz, as a
guess:

- PostgreSQL: ONE statement (`repository.submit_pg`, in autocommit: it is atomic
  alone) reads the login, the quiz, its current version, the caller's role and a
  prior attempt under the same Idempotency-Key, and inserts the attempt and its
  answers only if the login is live, the version is the guessed one, the role may
  submit and no prior attempt exists. Otherwise the row it returns says why (401,
  404, 403, replay, a newer version: fetch that key, score, send it again).
- SQLite: the same reads in one query, then one INSERT of the attempt and one
  executemany of its answers, in the request's transaction (writers are serialised
  by `BEGIN IMMEDIATE`, so no race on the key).

The response is encoded here (`schemas.encode_attempt`), not built and re-validated
as models.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.attempts import repository
from qoach.attempts.repository import ScoredRows, SubmitContext, SubmitState
from qoach.attempts.schemas import AttemptCreate, AttemptRead, AttemptResult, encode_attempt
from qoach.attempts.scoring import (
    InvalidSubmission,
    KeyQuestion,
    Score,
    build_key,
    score_submission,
)
from qoach.auth.dependencies import INVALID_TOKEN, TokenCaller
from qoach.companies.permissions import Action, can
from qoach.companies.repository import get_with_caller_role
from qoach.dates import DateRange
from qoach.db.types import utcnow
from qoach.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    field_error,
)
from qoach.models import Attempt, User
from qoach.pagination import Page, PageParams
from qoach.quizzes.service import quiz_not_found
from qoach.quizzes.version_cache import BoundedLRU, VersionKey

# answer keys of quiz versions (immutable), per process
ANSWER_KEYS: BoundedLRU[list[KeyQuestion]] = BoundedLRU(1024)
# quiz id → the version a submission to it last went to: only a guess, which the
# PostgreSQL statement checks (a stale guess costs one more round trip, never a wrong key)
CURRENT_VERSIONS: BoundedLRU[VersionKey] = BoundedLRU(4096)
# rounds of "the quiz changed under us" before giving up with 409 quiz_changed
_ATTEMPTS = 3


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


def _quiz_changed() -> Conflict:
    return Conflict("The quiz changed while the attempt was submitted", code="quiz_changed")


def _read(attempt: Attempt, results: list[tuple[int, bool]]) -> AttemptRead:
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
) -> bytes:
    """The first response for a retried submission, or 422 when the body differs."""
    if attempt is None:
        raise attempt_not_found()
    if stored_hash != new_hash:
        raise _key_reused()
    return (await _read_attempt(session, attempt)).model_dump_json().encode()


def _check_access(state: SubmitState) -> SubmitContext:
    """401 for a dead login, then 404 (no quiz, or not a member), then 403."""
    if not state.login_live:
        raise Unauthorized(INVALID_TOKEN)
    ctx = state.context
    if ctx is None or ctx.role is None:
        raise quiz_not_found()
    if not can(ctx.role, Action.attempts_submit):
        raise Forbidden("Your role in this company does not allow this", code="forbidden_role")
    return ctx


async def _answer_key(session: AsyncSession, ctx: SubmitContext) -> list[KeyQuestion]:
    key = ANSWER_KEYS.get(ctx.version_key)
    if key is None:  # versions are immutable: one query per version per process
        key = build_key(await repository.answer_key_rows(session, ctx.version_id))
        if key:
            ANSWER_KEYS.put(ctx.version_key, key)
    return key


def _score(key: list[KeyQuestion], data: AttemptCreate) -> Score:
    """Score against the key, or 422 naming the offending item."""
    try:
        return score_submission(key, data.answers)
    except InvalidSubmission as exc:
        raise field_error(("body", "answers", *exc.loc), exc.message) from exc


def _rows(scored: Score) -> ScoredRows:
    return ScoredRows(
        correct_count=scored.correct_count,
        question_count=scored.question_count,
        question_ids=scored.question_ids,
        masks=scored.masks,
        correct=scored.correct,
    )


def _created(
    ctx: SubmitContext, user_id: int, attempt_id: int, scored: Score, completed_at: object
) -> bytes:
    return encode_attempt(
        id=attempt_id,
        quiz_id=ctx.quiz_id,
        company_id=ctx.company_id,
        user_id=user_id,
        quiz_version=ctx.version,
        correct_count=scored.correct_count,
        question_count=scored.question_count,
        completed_at=completed_at,
        question_ids=scored.question_ids,
        correct=scored.correct,
    )


async def submit_attempt(
    session: AsyncSession,
    quiz_id: int,
    caller: TokenCaller,
    data: AttemptCreate,
    idempotency_key: str | None = None,
) -> bytes:
    """Score and store a submission; the JSON of the `AttemptRead` (201) it answers with.

    401 unless the caller's login is live (checked in the same query as the quiz),
    then 404 / 403, a replay for a known Idempotency-Key, 422 for answers that do not
    fit the current version.
    """
    digest = request_hash(quiz_id, data) if idempotency_key is not None else None
    if session.get_bind().dialect.name == "postgresql":
        return await _submit_pg(session, quiz_id, caller, data, idempotency_key, digest)
    return await _submit_portable(session, quiz_id, caller, data, idempotency_key, digest)


async def _submit_pg(
    session: AsyncSession,
    quiz_id: int,
    caller: TokenCaller,
    data: AttemptCreate,
    idempotency_key: str | None,
    digest: str | None,
) -> bytes:
    user_id = caller.user_id
    # first try: the version this process saw last for the quiz, if the answers fit it
    expected = CURRENT_VERSIONS.get(quiz_id)
    scored: Score | None = None
    if expected is not None and (key := ANSWER_KEYS.get(expected)) is not None:
        try:
            scored = score_submission(key, data.answers)
        except InvalidSubmission:
            scored = None  # maybe a stale guess: the 422 (or 404) comes from the real version
    for _ in range(_ATTEMPTS):
        completed_at = utcnow()
        try:
            state = await repository.submit_pg(
                session,
                quiz_id=quiz_id,
                user_id=user_id,
                session_id=caller.session_id,
                idempotency_key=idempotency_key,
                request_hash=digest,
                expected=expected if scored is not None else None,
                rows=_rows(scored) if scored is not None else None,
                completed_at=completed_at,
            )
        except IntegrityError as exc:  # the quiz or its version was deleted meanwhile
            raise _quiz_changed() from exc
        ctx = _check_access(state)
        if state.attempt_id is not None and scored is not None:
            CURRENT_VERSIONS.put(quiz_id, ctx.version_key)
            return _created(ctx, user_id, state.attempt_id, scored, completed_at)
        if ctx.existing_attempt_id is not None and digest is not None:
            prior = await repository.get_attempt(session, ctx.existing_attempt_id)
            return await _replay(session, prior, ctx.existing_request_hash, digest)
        if scored is not None and ctx.version_key == expected:
            # all matched, nothing inserted: a twin with our key committed first
            if idempotency_key is None or digest is None:
                raise _quiz_changed()
            winner = await repository.get_attempt_by_key(session, user_id, idempotency_key)
            if winner is None:
                raise _quiz_changed()
            return await _replay(session, winner, winner.request_hash, digest)
        # no guess, or a stale one: score against the current version and try again
        expected = ctx.version_key
        scored = _score(await _answer_key(session, ctx), data)
    raise _quiz_changed()


async def _submit_portable(
    session: AsyncSession,
    quiz_id: int,
    caller: TokenCaller,
    data: AttemptCreate,
    idempotency_key: str | None,
    digest: str | None,
) -> bytes:
    user_id = caller.user_id
    state = await repository.submit_context(
        session,
        quiz_id=quiz_id,
        user_id=user_id,
        session_id=caller.session_id,
        idempotency_key=idempotency_key,
    )
    ctx = _check_access(state)
    if ctx.existing_attempt_id is not None and digest is not None:
        prior = await repository.get_attempt(session, ctx.existing_attempt_id)
        return await _replay(session, prior, ctx.existing_request_hash, digest)
    scored = _score(await _answer_key(session, ctx), data)
    completed_at = utcnow()
    values = {
        "quiz_id": ctx.quiz_id,
        "quiz_version_id": ctx.version_id,
        "company_id": ctx.company_id,
        "user_id": user_id,
        "quiz_version": ctx.version,
        "correct_count": scored.correct_count,
        "question_count": scored.question_count,
        "completed_at": completed_at,
        "idempotency_key": idempotency_key,
        "request_hash": digest,
    }
    try:
        # SQLite's BEGIN IMMEDIATE serialises writers: the key cannot be taken
        # between the context query and this INSERT; a vanished quiz fails here
        attempt_id = await repository.insert_attempt(session, values)
    except IntegrityError as exc:
        raise _quiz_changed() from exc
    await repository.insert_attempt_answers(
        session,
        [
            {"attempt_id": attempt_id, "question_id": q, "selected_mask": m, "is_correct": ok}
            for q, m, ok in zip(scored.question_ids, scored.masks, scored.correct, strict=True)
        ],
    )
    return _created(ctx, user_id, attempt_id, scored, completed_at)


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
