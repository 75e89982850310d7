"""Join requests: a user asks to join a company they can see; staff accept or reject.

State changes are conditional updates of the pending row (`repository.transition`):
one winner per request, the others get 409.

Who gets what on `/requests/{id}/…`: a caller who is not a member of the
request's company gets the same 404 (`request_not_found`) as for a request that
does not exist; a member who is not staff gets 403. Cancelling is the requester's
own action: anyone else gets 404.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from qoach.broker import Broker
from qoach.companies import repository as repo
from qoach.companies import service as companies
from qoach.companies.join_requests.schemas import JoinRequestRead
from qoach.companies.permissions import Action, CompanyAccess, ensure, load_company_access
from qoach.companies.schemas import MembershipRead, StatusFilter
from qoach.companies.service import status_page
from qoach.errors import Conflict, NotFound
from qoach.models import Invitation, JoinRequest, NotificationKind, RequestStatus, User
from qoach.notifications.events import notify
from qoach.pagination import Page, PageParams


def _request_not_found() -> NotFound:
    return NotFound("Request not found", code="request_not_found")


async def create_request(
    session: AsyncSession, broker: Broker, access: CompanyAccess
) -> JoinRequestRead:
    company, user = access.company, access.user
    if access.role is not None:
        raise Conflict("You are already a member of this company", code="already_member")
    request = await repo.add_pending_item(
        session, JoinRequest(company_id=company.id, user_id=user.id)
    )
    if request is None:
        raise Conflict("You already have a pending request", code="request_exists")
    await notify(
        session,
        broker,
        user_ids=await repo.staff_ids(session, company.id),
        kind=NotificationKind.join_request_received,
        title=f"{user.email} asks to join {company.name}",
        company_id=company.id,
        payload={"company_id": company.id, "request_id": request.id, "user_id": user.id},
    )
    return JoinRequestRead.model_validate(request)


async def list_company_requests(
    session: AsyncSession, access: CompanyAccess, page: PageParams, status: StatusFilter
) -> Page[JoinRequestRead]:
    return await status_page(
        session, JoinRequest, JoinRequestRead, page, status, company_id=access.company.id
    )


async def list_my_requests(
    session: AsyncSession, user: User, page: PageParams, status: StatusFilter
) -> Page[JoinRequestRead]:
    return await status_page(session, JoinRequest, JoinRequestRead, page, status, user_id=user.id)


async def _staff_transition(
    session: AsyncSession, user: User, request_id: int, to_status: RequestStatus
) -> tuple[JoinRequest, CompanyAccess]:
    request = await repo.get_item(session, JoinRequest, request_id)
    if request is None:
        raise _request_not_found()
    try:
        access = await load_company_access(session, request.company_id, user)
    except NotFound:
        raise _request_not_found() from None
    if access.role is None and request.user_id != user.id:
        # another company's request answers like one that does not exist (its own
        # requester knows it exists: 403 below, like a member who is not staff)
        raise _request_not_found()
    ensure(access, Action.requests_manage)
    if to_status == RequestStatus.accepted:
        # the requester joins: a pending invitation of theirs is moot. Closed first so
        # both ways in lock invitation → request → membership (no deadlock when an
        # invitation is accepted at the same time); undone if this request fails.
        await repo.close_pending(
            session, Invitation, request.company_id, request.user_id, RequestStatus.canceled
        )
    changed = await repo.transition(session, JoinRequest, request_id, to_status)
    if changed is None:
        raise Conflict("The request is not pending", code="not_pending")
    return changed, access


async def accept_request(
    session: AsyncSession, broker: Broker, user: User, request_id: int
) -> MembershipRead:
    request, access = await _staff_transition(session, user, request_id, RequestStatus.accepted)
    company_id, requester_id = request.company_id, request.user_id
    requester = await repo.get_user(session, requester_id)
    if requester is None:  # deleted concurrently; its requests went with it
        raise _request_not_found()
    membership = await companies.add_member(session, company_id, requester)
    await notify(
        session,
        broker,
        user_ids=[requester_id],
        kind=NotificationKind.request_accepted,
        title=f"Your request to join {access.company.name} was accepted",
        company_id=company_id,
        payload={"company_id": company_id, "request_id": request.id, "user_id": requester_id},
    )
    return membership


async def reject_request(session: AsyncSession, user: User, request_id: int) -> None:
    await _staff_transition(session, user, request_id, RequestStatus.rejected)


async def cancel_request(session: AsyncSession, user: User, request_id: int) -> None:
    changed = await repo.transition(
        session, JoinRequest, request_id, RequestStatus.canceled, user_id=user.id
    )
    if changed is not None:
        return
    existing = await repo.get_item(session, JoinRequest, request_id)
    if existing is None or existing.user_id != user.id:
        raise _request_not_found()
    raise Conflict("The request is not pending", code="not_pending")
