"""Companies, members, admins and ownership; includes the invitation and request routers.

Each route names the `Action` it needs (`company_access(Action.x)`); the table of
what each role may do is `permissions.ROLE_ACTIONS`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qoach.auth.dependencies import CurrentUser
from qoach.companies import service
from qoach.companies.dependencies import UserId, VisibleCompany
from qoach.companies.invitations.router import router as invitations_router
from qoach.companies.join_requests.router import router as join_requests_router
from qoach.companies.permissions import Action, company_access
from qoach.companies.schemas import (
    CompanyCreate,
    CompanyRead,
    CompanyUpdate,
    MemberRead,
    MembershipRead,
    OwnerTransfer,
    errors,
)
from qoach.db.session import SessionDep
from qoach.models import CompanyRole
from qoach.openapi_links import created, link
from qoach.pagination import Page, PageDep
from qoach.text import NO_NUL

router = APIRouter(tags=["companies"])


@router.post(
    "/companies",
    status_code=201,
    summary="Create a company (the caller becomes its owner)",
    responses={
        **errors(),
        **created(
            "The new company, with the caller as its owner",
            GetCompany=link(
                "GET", "/companies/{company_id}", "Read it", company_id="$response.body#/id"
            ),
            ListMembers=link(
                "GET",
                "/companies/{company_id}/members",
                "Its members (the owner)",
                company_id="$response.body#/id",
            ),
            CreateQuiz=link(
                "POST",
                "/companies/{company_id}/quizzes",
                "Add a quiz",
                company_id="$response.body#/id",
            ),
        ),
    },
)
async def create_company(
    data: CompanyCreate, user: CurrentUser, session: SessionDep
) -> CompanyRead:
    return await service.create_company(session, user, data)


@router.get(
    "/companies",
    summary="Visible companies plus every company the caller is in",
    description="Each company carries the caller's `role` (null when not a member). "
    "`search` matches a substring of the name literally (case-insensitive).",
    responses=errors(),
)
async def list_companies(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    search: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
) -> Page[CompanyRead]:
    return await service.list_companies(session, user, page, search)


@router.get(
    "/companies/{company_id}",
    summary="One company, with the caller's role",
    description="404 for a hidden company the caller is not a member of.",
    responses=errors(404),
)
async def get_company(access: VisibleCompany) -> CompanyRead:
    return service.read_company(access)


@router.patch(
    "/companies/{company_id}",
    summary="Change name, description or visibility (owner)",
    responses=errors(403, 404),
)
async def update_company(
    data: CompanyUpdate,
    access: company_access(Action.company_update),  # type: ignore[valid-type]
    session: SessionDep,
) -> CompanyRead:
    return await service.update_company(session, access, data)


@router.delete(
    "/companies/{company_id}",
    status_code=204,
    summary="Delete a company and all its data (owner)",
    description="Members, invitations, requests, quizzes, attempts and notifications of "
    "the company are deleted with it.",
    responses=errors(403, 404),
)
async def delete_company(
    access: company_access(Action.company_delete),  # type: ignore[valid-type]
    session: SessionDep,
) -> None:
    await service.delete_company(session, access)


@router.get(
    "/companies/{company_id}/members",
    summary="Members of the company (members)",
    description="Owner first, then admins, then members, each by join date.",
    responses=errors(403, 404),
)
async def list_members(
    access: company_access(Action.members_read),  # type: ignore[valid-type]
    session: SessionDep,
    page: PageDep,
    role: Annotated[CompanyRole | None, Query(description="Only this role.")] = None,
) -> Page[MemberRead]:
    return await service.list_members(session, access, page, role)


@router.delete(
    "/companies/{company_id}/members/{user_id}",
    status_code=204,
    summary="Remove a member (staff)",
    description="The owner removes anyone but themselves (409); an admin removes plain "
    "members only (403). 404 when the user is not a member.",
    responses=errors(403, 404, 409),
)
async def remove_member(
    user_id: UserId,
    access: company_access(Action.members_remove),  # type: ignore[valid-type]
    session: SessionDep,
) -> None:
    await service.remove_member(session, access, user_id)


@router.post(
    "/companies/{company_id}/leave",
    status_code=204,
    summary="Leave the company (members; the owner cannot: 409)",
    responses=errors(403, 404, 409),
)
async def leave_company(
    access: company_access(Action.company_leave),  # type: ignore[valid-type]
    session: SessionDep,
) -> None:
    await service.leave_company(session, access)


@router.post(
    "/companies/{company_id}/owner",
    summary="Transfer the ownership to a member (owner)",
    description="The old owner becomes an admin. 409 when the user is not a member.",
    responses=errors(403, 404, 409),
)
async def transfer_ownership(
    data: OwnerTransfer,
    access: company_access(Action.owner_transfer),  # type: ignore[valid-type]
    session: SessionDep,
) -> CompanyRead:
    return await service.transfer_ownership(session, access, data.user_id)


@router.get(
    "/companies/{company_id}/admins",
    summary="Admins of the company (members)",
    responses=errors(403, 404),
)
async def list_admins(
    access: company_access(Action.admins_read),  # type: ignore[valid-type]
    session: SessionDep,
    page: PageDep,
) -> Page[MembershipRead]:
    return await service.list_admins(session, access, page)


@router.post(
    "/companies/{company_id}/admins/{user_id}",
    summary="Make a member an admin (owner)",
    description="409 when the user is not a member, already an admin, or the owner.",
    responses=errors(403, 404, 409),
)
async def promote_admin(
    user_id: UserId,
    access: company_access(Action.admins_manage),  # type: ignore[valid-type]
    session: SessionDep,
) -> MembershipRead:
    return await service.promote_admin(session, access, user_id)


@router.delete(
    "/companies/{company_id}/admins/{user_id}",
    summary="Make an admin a plain member again (owner)",
    description="409 when the user is not an admin.",
    responses=errors(403, 404, 409),
)
async def demote_admin(
    user_id: UserId,
    access: company_access(Action.admins_manage),  # type: ignore[valid-type]
    session: SessionDep,
) -> MembershipRead:
    return await service.demote_admin(session, access, user_id)


router.include_router(invitations_router)
router.include_router(join_requests_router)
