"""Invitations: staff invite, the invitee answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qoach.auth.dependencies import CurrentUser
from qoach.broker import BrokerDep
from qoach.companies.dependencies import InvitationId
from qoach.companies.invitations import service
from qoach.companies.invitations.schemas import InvitationCreate, InvitationRead
from qoach.companies.permissions import Action, company_access
from qoach.companies.schemas import MembershipRead, StatusFilter, errors
from qoach.db.session import SessionDep
from qoach.openapi_links import created, link
from qoach.pagination import Page, PageDep

router = APIRouter(tags=["invitations"])

StatusQuery = Annotated[
    StatusFilter, Query(description="Only invitations in this state; `all` for every state.")
]


@router.post(
    "/companies/{company_id}/invitations",
    status_code=201,
    summary="Invite a registered user (staff)",
    description="Body: exactly one of `user_id` and `email`. 404 for an unknown user; 409 "
    "when the user is already a member or has a pending invitation. The invitee is notified.",
    responses={
        **errors(403, 404, 409),
        **created(
            "The pending invitation",
            CancelInvitation=link(
                "DELETE",
                "/companies/{company_id}/invitations/{invitation_id}",
                "Cancel it",
                company_id="$request.path.company_id",
                invitation_id="$response.body#/id",
            ),
        ),
    },
)
async def create_invitation(
    data: InvitationCreate,
    access: company_access(Action.invitations_manage),  # type: ignore[valid-type]
    session: SessionDep,
    broker: BrokerDep,
) -> InvitationRead:
    return await service.create_invitation(session, broker, access, data)


@router.get(
    "/companies/{company_id}/invitations",
    summary="Invitations of the company (staff)",
    responses=errors(403, 404),
)
async def list_company_invitations(
    access: company_access(Action.invitations_manage),  # type: ignore[valid-type]
    session: SessionDep,
    page: PageDep,
    status: StatusQuery = StatusFilter.pending,
) -> Page[InvitationRead]:
    return await service.list_company_invitations(session, access, page, status)


@router.delete(
    "/companies/{company_id}/invitations/{invitation_id}",
    status_code=204,
    summary="Cancel a pending invitation (staff)",
    description="404 when it is not an invitation of this company; 409 unless pending.",
    responses=errors(403, 404, 409),
)
async def cancel_invitation(
    invitation_id: InvitationId,
    access: company_access(Action.invitations_manage),  # type: ignore[valid-type]
    session: SessionDep,
) -> None:
    await service.cancel_invitation(session, access, invitation_id)


@router.get(
    "/users/me/invitations",
    summary="Invitations to the caller",
    responses=errors(),
)
async def list_my_invitations(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    status: StatusQuery = StatusFilter.pending,
) -> Page[InvitationRead]:
    return await service.list_my_invitations(session, user, page, status)


@router.post(
    "/invitations/{invitation_id}/accept",
    summary="Accept an invitation (the invitee)",
    description="→ the new membership. 404 for anyone but the invitee; 409 unless pending "
    "(or when already a member). The company's staff are notified.",
    responses=errors(404, 409),
)
async def accept_invitation(
    invitation_id: InvitationId, user: CurrentUser, session: SessionDep, broker: BrokerDep
) -> MembershipRead:
    return await service.accept_invitation(session, broker, user, invitation_id)


@router.post(
    "/invitations/{invitation_id}/decline",
    status_code=204,
    summary="Decline an invitation (the invitee)",
    description="404 for anyone but the invitee; 409 unless pending.",
    responses=errors(404, 409),
)
async def decline_invitation(
    invitation_id: InvitationId, user: CurrentUser, session: SessionDep
) -> None:
    await service.decline_invitation(session, user, invitation_id)
