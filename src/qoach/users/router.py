"""`/users`: the directory of users and the caller's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from qoach.auth.dependencies import CurrentAuth, CurrentUser
from qoach.auth.router import PASSWORD_HASHING_503, with_retry_after
from qoach.auth.schemas import error_responses
from qoach.broker import BrokerDep
from qoach.db.session import SessionDep
from qoach.pagination import Page, PageDep
from qoach.params import UserIdPath
from qoach.text import NO_NUL
from qoach.users import service
from qoach.users.schemas import UserRead, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])

_401 = (401, "Missing, invalid, expired or revoked token")
_422 = (422, "Invalid input")

UPDATE_DESCRIPTION = (
    "Partial update: only the fields sent change (`PUT` behaves like `PATCH`). A new "
    "`password` needs the right `current_password` (403 `wrong_password` when missing or "
    "wrong) and ends every other login of the user; the current one stays. Any other "
    "field (email, id, …) is 422. Accounts created through Auth0 have no password and "
    "cannot set one here."
)


@router.get(
    "",
    response_model=Page[UserRead],
    summary="List users",
    description="Ordered by id. `search` matches a substring of the first name, last "
    "name, full name or email, case-insensitively and literally (`%`, `_` are ordinary).",
    responses=error_responses(_401, _422),
)
async def list_users(
    _: CurrentUser,
    session: SessionDep,
    page: PageDep,
    search: Annotated[
        str | None,
        Query(max_length=200, pattern=NO_NUL, description="Substring of name or email."),
    ] = None,
) -> Page[UserRead]:
    items, total = await service.list_users(
        session, search=search, limit=page.limit, offset=page.offset
    )
    return Page[UserRead](
        items=[UserRead.model_validate(u) for u in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/me",
    response_model=UserRead,
    summary="The caller (same as GET /auth/me)",
    responses=error_responses(_401),
)
async def read_me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


async def _update_me(
    data: UserUpdate, auth: CurrentAuth, session: SessionDep, broker: BrokerDep
) -> UserRead:
    user = await service.update_me(
        session, broker, auth.user, data, current_session_id=auth.session_id
    )
    return UserRead.model_validate(user)


_update_responses = with_retry_after(
    error_responses(_401, (403, "Current password missing or wrong"), _422, PASSWORD_HASHING_503),
    503,
)

router.add_api_route(
    "/me",
    _update_me,
    methods=["PATCH"],
    response_model=UserRead,
    summary="Update the caller",
    description=UPDATE_DESCRIPTION,
    responses=_update_responses,
    operation_id="update_me_patch",
)
router.add_api_route(
    "/me",
    _update_me,
    methods=["PUT"],
    response_model=UserRead,
    summary="Update the caller (same as PATCH)",
    description=UPDATE_DESCRIPTION,
    responses=_update_responses,
    operation_id="update_me_put",
)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete the caller's account",
    description="Deletes the companies the caller owns (with all their data), then the "
    "account with its memberships, invitations, requests, notifications, attempts and "
    "logins. Every token of the account stops working.",
    responses=error_responses(_401),
)
async def delete_me(user: CurrentUser, session: SessionDep, broker: BrokerDep) -> None:
    await service.delete_me(session, broker, user)


@router.get(
    "/{user_id}",
    response_model=UserRead,
    summary="One user",
    responses=error_responses(_401, (404, "No such user (`user_not_found`)"), _422),
)
async def get_user(
    user_id: UserIdPath,
    _: CurrentUser,
    session: SessionDep,
) -> UserRead:
    return UserRead.model_validate(await service.get_user(session, user_id))
