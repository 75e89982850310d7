"""Join requests: a user asks, staff answer, the requester may cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qoach.auth.dependencies import CurrentUser
from qoach.broker import BrokerDep
from qoach.companies.dependencies import RequestId, VisibleCompany
from qoach.companies.join_requests import service
from qoach.companies.join_requests.schemas import JoinRequestRead
from qoach.companies.permissions import Action, company_access
from qoach.companies.schemas import MembershipRead, StatusFilter, errors
from qoach.db.session import SessionDep
from qoach.openapi_links import created, link
from qoach.pagination import Page, PageDep

router = APIRouter(tags=["join requests"])

StatusQuery = Annotated[
    StatusFilter, Query(description="Only requests in this state; `all` for every state.")
]
_STAFF_NOTE = (
    " 404 when the request does not exist or the caller is not a member of its company "
    "(another company's request answers like a missing one); 403 for members who are "
    "not staff and for the requester; 409 unless pending."
)


@router.post(
    "/companies/{company_id}/requests",
    status_code=201,
    summary="Ask to join a company",
    description="Any user who can see the company. 409 when already a member or a "
    "request is pending. The company's staff are notified.",
    responses={
        **errors(404, 409),
        **created(
            "The pending request",
            CancelRequest=link(
                "DELETE",
                "/requests/{request_id}",
                "Withdraw it (the requester)",
                request_id="$response.body#/id",
            ),
        ),
    },
)
async def create_request(
    access: VisibleCompany, session: SessionDep, broker: BrokerDep
) -> JoinRequestRead:
    return await service.create_request(session, broker, access)


@router.get(
    "/companies/{company_id}/requests",
    summary="Join requests of the company (staff)",
    responses=errors(403, 404),
)
async def list_company_requests(
    access: company_access(Action.requests_manage),  # type: ignore[valid-type]
    session: SessionDep,
    page: PageDep,
    status: StatusQuery = StatusFilter.pending,
) -> Page[JoinRequestRead]:
    return await service.list_company_requests(session, access, page, status)


@router.get(
    "/users/me/requests",
    summary="The caller's join requests",
    responses=errors(),
)
async def list_my_requests(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    status: StatusQuery = StatusFilter.pending,
) -> Page[JoinRequestRead]:
    return await service.list_my_requests(session, user, page, status)


@router.post(
    "/requests/{request_id}/accept",
    summary="Accept a join request (staff of its company)",
    description="→ the new membership; the requester is notified." + _STAFF_NOTE,
    responses=errors(403, 404, 409),
)
async def accept_request(
    request_id: RequestId, user: CurrentUser, session: SessionDep, broker: BrokerDep
) -> MembershipRead:
    return await service.accept_request(session, broker, user, request_id)


@router.post(
    "/requests/{request_id}/reject",
    status_code=204,
    summary="Reject a join request (staff of its company)",
    description=_STAFF_NOTE.strip(),
    responses=errors(403, 404, 409),
)
async def reject_request(request_id: RequestId, user: CurrentUser, session: SessionDep) -> None:
    await service.reject_request(session, user, request_id)


@router.delete(
    "/requests/{request_id}",
    status_code=204,
    summary="Cancel the caller's pending request",
    description="404 for anyone but the requester; 409 unless pending.",
    responses=errors(404, 409),
)
async def cancel_request(request_id: RequestId, user: CurrentUser, session: SessionDep) -> None:
    await service.cancel_request(session, user, request_id)
