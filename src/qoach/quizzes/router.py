"""Quiz routes: staff manage quizzes of their company, members read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qoach.auth.dependencies import CurrentUser, TokenCallerDep
from qoach.broker import BrokerDep
from qoach.companies.permissions import Action, company_access
from qoach.db.session import SessionDep
from qoach.errors import error_responses
from qoach.openapi_links import created, link
from qoach.pagination import Page, PageDep
from qoach.params import QuizIdPath
from qoach.quizzes import service
from qoach.quizzes.schemas import (
    QuizAdminRead,
    QuizCreate,
    QuizPublicRead,
    QuizSummary,
    QuizUpdate,
)
from qoach.text import NO_NUL

router = APIRouter(tags=["quizzes"])

QuizId = QuizIdPath

_COMPANY_404 = "No such company, or a hidden one the caller is not in (`company_not_found`)"
_QUIZ_404 = (
    "No such quiz, or the caller is not a member of its company (`quiz_not_found`): "
    "a quiz of another company answers like one that does not exist"
)


@router.post(
    "/companies/{company_id}/quizzes",
    response_model=QuizAdminRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a quiz (staff)",
    description="Creates version 1 and notifies every other member (`quiz_created`).",
    responses={
        **error_responses(403, 404, 422, e404=_COMPANY_404),
        **created(
            "The new quiz (admin view)",
            GetQuiz=link(
                "GET", "/quizzes/{quiz_id}", "The public view", quiz_id="$response.body#/id"
            ),
            GetQuizAdmin=link(
                "GET", "/quizzes/{quiz_id}/admin", "The admin view", quiz_id="$response.body#/id"
            ),
            SubmitAttempt=link(
                "POST", "/quizzes/{quiz_id}/attempts", "Take it", quiz_id="$response.body#/id"
            ),
        ),
    },
)
async def create_quiz(
    data: QuizCreate,
    session: SessionDep,
    broker: BrokerDep,
    access: company_access(Action.quizzes_manage),  # type: ignore[valid-type]
) -> QuizAdminRead:
    return await service.create_quiz_view(session, broker, access, data)


@router.get(
    "/companies/{company_id}/quizzes",
    response_model=Page[QuizSummary],
    status_code=status.HTTP_200_OK,
    summary="List a company's quizzes (members)",
    description="Newest first. `search` matches a substring of the title literally.",
    responses=error_responses(403, 404, 422, e404=_COMPANY_404),
)
async def list_quizzes(
    session: SessionDep,
    access: company_access(Action.quizzes_read),  # type: ignore[valid-type]
    page: PageDep,
    search: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="Substring of the title.")
    ] = None,
) -> Page[QuizSummary]:
    return await service.list_quizzes(session, access, page, search)


@router.get(
    "/quizzes/{quiz_id}",
    response_model=QuizPublicRead,
    status_code=status.HTTP_200_OK,
    summary="Read a quiz to take it (members)",
    description="The public view: questions and answers without `is_correct`.",
    responses=error_responses(404, 422, e404=_QUIZ_404),
)
async def get_quiz(quiz_id: QuizId, request: Request, caller: TokenCallerDep) -> Response:
    # The hot read. It writes nothing, so it takes a plain session rather than
    # SessionDep's per-request transaction (one statement, run in autocommit on
    # PostgreSQL; see the service). The login is checked inside that statement, and the
    # body comes pre-encoded (QuizPublicRead, as documented by response_model).
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        body = await service.get_public_view_for(session, quiz_id, caller)
    return Response(body, media_type="application/json")


@router.get(
    "/quizzes/{quiz_id}/admin",
    response_model=QuizAdminRead,
    status_code=status.HTTP_200_OK,
    summary="Read a quiz with its correct answers (staff)",
    responses=error_responses(403, 404, 422, e404=_QUIZ_404),
)
async def get_quiz_admin(quiz_id: QuizId, session: SessionDep, user: CurrentUser) -> QuizAdminRead:
    return await service.get_admin_view(session, quiz_id, user)


@router.put(
    "/quizzes/{quiz_id}",
    response_model=QuizAdminRead,
    status_code=status.HTTP_200_OK,
    summary="Replace a quiz's definition (staff)",
    description=(
        "Writes a new version (`version` + 1) with new question and answer ids; "
        "past attempts keep the version they saw."
    ),
    responses=error_responses(403, 404, 422, e404=_QUIZ_404),
)
async def replace_quiz(
    quiz_id: QuizId, data: QuizCreate, session: SessionDep, user: CurrentUser
) -> QuizAdminRead:
    return await service.replace_quiz_view(session, quiz_id, user, data)


@router.patch(
    "/quizzes/{quiz_id}",
    response_model=QuizAdminRead,
    status_code=status.HTTP_200_OK,
    summary="Edit a quiz's title, description or frequency (staff)",
    description="Any other field is 422; the version stays.",
    responses=error_responses(403, 404, 422, e404=_QUIZ_404),
)
async def update_quiz(
    quiz_id: QuizId, data: QuizUpdate, session: SessionDep, user: CurrentUser
) -> QuizAdminRead:
    return await service.update_quiz_view(session, quiz_id, user, data)


@router.delete(
    "/quizzes/{quiz_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a quiz with its attempts (staff)",
    responses=error_responses(403, 404, 422, e404=_QUIZ_404),
)
async def delete_quiz(quiz_id: QuizId, session: SessionDep, user: CurrentUser) -> None:
    await service.delete_quiz(session, quiz_id, user)
