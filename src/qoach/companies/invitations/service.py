"""Invitations: staff invite a registered user; the invitee accepts or declines.

Every state change is a conditional update of a pending row (see
`repository.transition`), so concurrent accepts, or an accept racing a cancel,
end with exactly one winner; the others get 409.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from qoach.broker import Broker
from qoach.companies import repository as repo
from qoach.companies import service as companies
from qoach.companies.invitations.schemas import InvitationCreate, InvitationRead
from qoach.companies.permissions import CompanyAccess
from qoach.companies.schemas import MembershipRead, StatusFilter
from qoach.companies.service import status_page
from qoach.errors import Conflict, NotFound
from qoach.models import Invitation, JoinRequest, NotificationKind, RequestStatus, User
from qoach.notifications.events import notify
from qoach.pagination import Page, PageParams


async def create_invitation(
    session: AsyncSession, broker: Broker, access: CompanyAccess, data: InvitationCreate
) -> InvitationRead:
    company = access.company
    invitee = await repo.find_user(session, user_id=data.user_id, email=data.email)
    if invitee is None:
        raise NotFound("No registered user matches", code="user_not_found")
    if await repo.is_member(session, company.id, invitee.id):
        raise Conflict("This user is already a member of the company", code="already_member")
    invitation = await repo.add_pending_item(
        session, Invitation(company_id=company.id, user_id=invitee.id, invited_by_id=access.user.id)
    )
    if invitation is None:
        raise Conflict("A pending invitation already exists", code="invitation_exists")
    await notify(
        session,
        broker,
        user_ids=[invitee.id],
        kind=NotificationKind.invitation_received,
        title=f"You are invited to join {company.name}",
        company_id=company.id,
        payload={"company_id": company.id, "invitation_id": invitation.id, "user_id": invitee.id},
    )
    return InvitationRead.model_validate(invitation)


async def list_company_invitations(
    session: AsyncSession, access: CompanyAccess, page: PageParams, status: StatusFilter
) -> Page[InvitationRead]:
    return await status_page(
        session, Invitation, InvitationRead, page, status, company_id=access.company.id
    )


async def list_my_invitations(
    session: AsyncSession, user: User, page: PageParams, status: StatusFilter
) -> Page[InvitationRead]:
    return await status_page(session, Invitation, InvitationRead, page, status, user_id=user.id)


async def cancel_invitation(
    session: AsyncSession, access: CompanyAccess, invitation_id: int
) -> None:
    invitation = await repo.get_item(session, Invitation, invitation_id)
    if invitation is None or invitation.company_id != access.company.id:
        raise NotFound("Invitation not found", code="invitation_not_found")
    if await repo.transition(session, Invitation, invitation_id, RequestStatus.canceled) is None:
        raise Conflict("The invitation is not pending", code="not_pending")


async def _answer(
    session: AsyncSession, user: User, invitation_id: int, to_status: RequestStatus
) -> Invitation:
    """Move the caller's invitation to `to_status`; 404 if not theirs, 409 unless pending."""
    invitation = await repo.transition(
        session, Invitation, invitation_id, to_status, user_id=user.id
    )
    if invitation is not None:
        return invitation
    existing = await repo.get_item(session, Invitation, invitation_id)
    if existing is None or existing.user_id != user.id:
        raise NotFound("Invitation not found", code="invitation_not_found")
    raise Conflict("The invitation is not pending", code="not_pending")


async def accept_invitation(
    session: AsyncSession, broker: Broker, user: User, invitation_id: int
) -> MembershipRead:
    invitation = await _answer(session, user, invitation_id, RequestStatus.accepted)
    company_id = invitation.company_id
    # lock order invitation → request → membership, as in accepting a request (no deadlock)
    await repo.close_pending(session, JoinRequest, company_id, user.id, RequestStatus.canceled)
    membership = await companies.add_member(session, company_id, user)
    company = await repo.get_company(session, company_id)
    await notify(
        session,
        broker,
        user_ids=await repo.staff_ids(session, company_id),
        kind=NotificationKind.invitation_accepted,
        title=f"{user.email} joined {company.name if company else 'the company'}",
        company_id=company_id,
        payload={"company_id": company_id, "invitation_id": invitation.id, "user_id": user.id},
    )
    return membership


async def decline_invitation(session: AsyncSession, user: User, invitation_id: int) -> None:
    await _answer(session, user, invitation_id, RequestStatus.declined)
