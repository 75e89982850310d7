"""Attempt routes: members submit, users read their own, staff read their company's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from qoach.attempts import service
from qoach.attempts.schemas import AttemptCreate, AttemptRead
from qoach.auth.dependencies import CurrentUser, TokenCallerDep
from qoach.dates import DateRangeDep
from qoach.db.session import SessionDep
from qoach.errors import error_responses
from qoach.openapi_links import created, link
from qoach.pagination import Page, PageDep
from qoach.params import AttemptIdPath, CompanyIdQuery, QuizIdPath, QuizIdQuery
from qoach.text import NO_NUL

router = APIRouter(tags=["attempts"])


@router.post(
    "/quizzes/{quiz_id}/attempts",
    response_model=AttemptRead,
    status_code=status.HTTP_201_CREATED,
    summary="Submit an attempt (members)",
    description=(
        "Scored on the server: a question is correct when the chosen answers equal the "
        "correct ones exactly; unanswered questions are wrong. Unknown or repeated "
        "question ids and answers of another question are 422. With an "
        "`Idempotency-Key` header a retried submission returns the first attempt "
        "(201, same body); the same key with a different body is 422 "
        "(`idempotency_key_reused`)."
    ),
    responses={
        **error_responses(
            404,
            409,
            422,
            e404="No such quiz, or the caller is not a member of its company (`quiz_not_found`)",
            e409="The quiz was deleted or changed while submitting (`quiz_changed`)",
        ),
        **created(
            "The scored attempt",
            GetAttempt=link(
                "GET", "/attempts/{attempt_id}", "Read it again", attempt_id="$response.body#/id"
            ),
        ),
    },
)
async def submit_attempt(
    quiz_id: QuizIdPath,
    data: AttemptCreate,
    session: SessionDep,
    caller: TokenCallerDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=NO_NUL,
            description="Makes a retried submission return the first attempt (per user).",
        ),
    ] = None,
) -> Response:
    # The hot write. The login is checked inside the submit query (TokenCallerDep: no
    # query of its own), and the service encodes the AttemptRead (response_model
    # documents it). On PostgreSQL the one statement runs in autocommit.
    body = await service.submit_attempt(session, quiz_id, caller, data, idempotency_key)
    return Response(body, status_code=status.HTTP_201_CREATED, media_type="application/json")


@router.get(
    "/attempts/{attempt_id}",
    response_model=AttemptRead,
    status_code=status.HTTP_200_OK,
    summary="Read an attempt (its user, or staff of its company)",
    responses=error_responses(
        404, 422, e404="No such attempt, or not visible to the caller (`attempt_not_found`)"
    ),
)
async def get_attempt(
    attempt_id: AttemptIdPath,
    session: SessionDep,
    user: CurrentUser,
) -> AttemptRead:
    return await service.get_attempt(session, attempt_id, user)


@router.get(
    "/users/me/attempts",
    response_model=Page[AttemptRead],
    status_code=status.HTTP_200_OK,
    summary="The caller's attempt history",
    description="Newest first; `from` / `to` are inclusive bounds on `completed_at`.",
    responses=error_responses(422),
)
async def list_my_attempts(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    dates: DateRangeDep,
    quiz_id: QuizIdQuery = None,
    company_id: CompanyIdQuery = None,
) -> Page[AttemptRead]:
    return await service.list_my_attempts(
        session, user, page, dates, quiz_id=quiz_id, company_id=company_id
    )
