"""Companies, memberships, admins and ownership: the rules.

Membership changes lock the affected membership rows (`SELECT … FOR UPDATE` on
PostgreSQL; SQLite serialises writers with `BEGIN IMMEDIATE`), so each rule is
checked against the committed state it changes.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.companies import repository as repo
from qoach.companies.permissions import CompanyAccess
from qoach.companies.schemas import (
    CompanyCreate,
    CompanyRead,
    CompanyUpdate,
    MemberRead,
    MembershipRead,
    StatusFilter,
)
from qoach.errors import Conflict, Forbidden, NotFound
from qoach.models import Company, CompanyRole, Membership, User
from qoach.pagination import Page, PageParams
from qoach.users.schemas import UserRead

ReadT = TypeVar("ReadT", bound=BaseModel)


def company_read(company: Company, role: CompanyRole | str | None) -> CompanyRead:
    return CompanyRead(
        id=company.id,
        name=company.name,
        description=company.description,
        is_visible=company.is_visible,
        created_at=company.created_at,
        updated_at=company.updated_at,
        role=CompanyRole(role) if role else None,
    )


def membership_read(membership: Membership, user: User) -> MembershipRead:
    return MembershipRead(
        user=UserRead.model_validate(user),
        company_id=membership.company_id,
        role=CompanyRole(membership.role),
        joined_at=membership.joined_at,
    )


async def status_page(
    session: AsyncSession,
    model: type[repo.PendingT],
    schema: type[ReadT],
    page: PageParams,
    status: StatusFilter,
    *,
    company_id: int | None = None,
    user_id: int | None = None,
) -> Page[ReadT]:
    """A page of invitations or join requests, filtered by status (`all` = any)."""
    stmt = repo.pending_items(
        model,
        status=None if status == StatusFilter.all else status.value,
        company_id=company_id,
        user_id=user_id,
    )
    rows, total = await repo.paginate(session, stmt, page)
    return Page(
        items=[schema.model_validate(row[0]) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


# --- companies ---------------------------------------------------------------


async def create_company(session: AsyncSession, user: User, data: CompanyCreate) -> CompanyRead:
    company = Company(name=data.name, description=data.description, is_visible=data.is_visible)
    session.add(company)
    await session.flush()
    session.add(Membership(company_id=company.id, user_id=user.id, role=CompanyRole.owner.value))
    await session.flush()
    return company_read(company, CompanyRole.owner)


async def list_companies(
    session: AsyncSession, user: User, page: PageParams, search: str | None
) -> Page[CompanyRead]:
    rows, total = await repo.paginate(session, repo.companies_for_user(user.id, search), page)
    return Page(
        items=[company_read(company, role) for company, role in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def read_company(access: CompanyAccess) -> CompanyRead:
    return company_read(access.company, access.role)


async def update_company(
    session: AsyncSession, access: CompanyAccess, data: CompanyUpdate
) -> CompanyRead:
    company = access.company
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(company, field, value)
    await session.flush()
    return company_read(company, access.role)


async def delete_company(session: AsyncSession, access: CompanyAccess) -> None:
    await repo.delete_company(session, access.company.id)


# --- members -----------------------------------------------------------------


async def list_members(
    session: AsyncSession, access: CompanyAccess, page: PageParams, role: CompanyRole | None
) -> Page[MemberRead]:
    roles = [role.value] if role else None
    rows, total = await repo.paginate(session, repo.members_of(access.company.id, roles), page)
    return Page(
        items=[
            MemberRead(
                user=UserRead.model_validate(user),
                role=CompanyRole(membership.role),
                joined_at=membership.joined_at,
            )
            for membership, user in rows
        ],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def list_admins(
    session: AsyncSession, access: CompanyAccess, page: PageParams
) -> Page[MembershipRead]:
    stmt = repo.members_of(access.company.id, [CompanyRole.admin.value])
    rows, total = await repo.paginate(session, stmt, page)
    return Page(
        items=[membership_read(membership, user) for membership, user in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def remove_member(session: AsyncSession, access: CompanyAccess, user_id: int) -> None:
    """The owner removes anyone but themselves; an admin removes plain members only."""
    found = await repo.get_membership(session, access.company.id, user_id, for_update=True)
    if found is None:
        raise NotFound("This user is not a member of the company", code="member_not_found")
    membership, _ = found
    if access.role != CompanyRole.owner and membership.role != CompanyRole.member.value:
        raise Forbidden("Admins may remove plain members only", code="forbidden_role")
    if membership.role == CompanyRole.owner.value:  # the owner removing themselves
        raise Conflict(
            "The owner cannot be removed; transfer the ownership first", code="owner_cannot_leave"
        )
    await repo.delete_membership(session, membership)


async def leave_company(session: AsyncSession, access: CompanyAccess) -> None:
    found = await repo.get_membership(session, access.company.id, access.user.id, for_update=True)
    if found is None:  # left concurrently
        raise NotFound("You are not a member of this company", code="member_not_found")
    membership, _ = found
    if membership.role == CompanyRole.owner.value:
        raise Conflict(
            "The owner cannot leave; transfer the ownership first", code="owner_cannot_leave"
        )
    await repo.delete_membership(session, membership)


async def transfer_ownership(
    session: AsyncSession, access: CompanyAccess, user_id: int
) -> CompanyRead:
    """Make `user_id` the owner; the old owner becomes admin.

    Both rows are locked first; the old owner is demoted before the new one is
    promoted, each in its own flush, so the one-owner unique index never sees two.
    """
    company_id = access.company.id
    if user_id == access.user.id:
        raise Conflict("You already own this company", code="already_owner")
    locked = await repo.lock_memberships(session, company_id, [access.user.id, user_id])
    current = locked.get(access.user.id)
    if current is None or current.role != CompanyRole.owner.value:
        raise Forbidden("Only the owner may transfer the ownership", code="forbidden_role")
    target = locked.get(user_id)
    if target is None:
        raise Conflict("This user is not a member of the company", code="not_a_member")
    current.role = CompanyRole.admin.value
    await session.flush()
    target.role = CompanyRole.owner.value
    await session.flush()
    return company_read(access.company, CompanyRole.admin)


async def _change_admin(
    session: AsyncSession, access: CompanyAccess, user_id: int, *, promote: bool
) -> MembershipRead:
    found = await repo.get_membership(session, access.company.id, user_id, for_update=True)
    if found is None:
        raise Conflict("This user is not a member of the company", code="not_a_member")
    membership, user = found
    if promote:
        if membership.role == CompanyRole.owner.value:
            raise Conflict("The owner cannot be made an admin", code="is_owner")
        if membership.role == CompanyRole.admin.value:
            raise Conflict("This member is already an admin", code="already_admin")
        membership.role = CompanyRole.admin.value
    else:
        if membership.role != CompanyRole.admin.value:
            raise Conflict("This member is not an admin", code="not_an_admin")
        membership.role = CompanyRole.member.value
    await session.flush()
    return membership_read(membership, user)


async def promote_admin(
    session: AsyncSession, access: CompanyAccess, user_id: int
) -> MembershipRead:
    return await _change_admin(session, access, user_id, promote=True)


async def demote_admin(
    session: AsyncSession, access: CompanyAccess, user_id: int
) -> MembershipRead:
    return await _change_admin(session, access, user_id, promote=False)


# --- shared by invitations and join requests ----------------------------------


async def add_member(session: AsyncSession, company_id: int, user: User) -> MembershipRead:
    """Insert a plain membership; 409 if the user is already in the company."""
    membership = await repo.add_membership(session, company_id, user.id, CompanyRole.member)
    if membership is None:
        raise Conflict("This user is already a member of the company", code="already_member")
    return membership_read(membership, user)
