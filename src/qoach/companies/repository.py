"""SQL for companies and memberships. Every list is one count plus one page query."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar, TypeVarTuple

from sqlalchemy import Row, Select, and_, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.db.types import utcnow
from qoach.models import (
    Attempt,
    Company,
    CompanyRole,
    Invitation,
    JoinRequest,
    Membership,
    Quiz,
    RequestStatus,
    User,
)
from qoach.pagination import PageParams, escape_like

PendingT = TypeVar("PendingT", Invitation, JoinRequest)
Ts = TypeVarTuple("Ts")

# owner first, then admins, then members
_ROLE_RANK = case(
    (Membership.role == CompanyRole.owner.value, 0),
    (Membership.role == CompanyRole.admin.value, 1),
    else_=2,
)
STAFF_ROLE_VALUES = (CompanyRole.owner.value, CompanyRole.admin.value)


async def paginate(
    session: AsyncSession, stmt: Select[*Ts], page: PageParams
) -> tuple[list[Row[*Ts]], int]:
    """(rows of the page, total): two statements whatever the page size."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = (await session.execute(stmt.limit(page.limit).offset(page.offset))).all()
    return list(rows), int(total or 0)


def companies_for_user(user_id: int, search: str | None = None) -> Select[Company, str]:
    """(Company, caller's role or None): visible companies plus every one the user is in."""
    stmt = (
        select(Company, Membership.role)
        .outerjoin(
            Membership,
            (Membership.company_id == Company.id) & (Membership.user_id == user_id),
        )
        .where(or_(Company.is_visible.is_(True), Membership.id.is_not(None)))
        .order_by(Company.id)
    )
    if search:
        stmt = stmt.where(Company.name.ilike(f"%{escape_like(search)}%", escape="\\"))
    return stmt


async def get_company(session: AsyncSession, company_id: int) -> Company | None:
    return await session.get(Company, company_id)


async def delete_company(session: AsyncSession, company_id: int) -> None:
    # memberships, invitations, requests, quizzes (with versions, questions, answers),
    # attempts and notifications go with it through ON DELETE CASCADE
    await session.execute(delete(Company).where(Company.id == company_id))


def members_of(company_id: int, roles: Iterable[str] | None = None) -> Select[Membership, User]:
    """(Membership, User) of a company, owner first, then by join date."""
    stmt = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.company_id == company_id)
        .order_by(_ROLE_RANK, Membership.joined_at, Membership.id)
    )
    if roles is not None:
        stmt = stmt.where(Membership.role.in_(list(roles)))
    return stmt


async def get_membership(
    session: AsyncSession, company_id: int, user_id: int, *, for_update: bool = False
) -> tuple[Membership, User] | None:
    """The membership with its user; `for_update` locks the membership row (PostgreSQL)."""
    stmt = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.company_id == company_id, Membership.user_id == user_id)
    )
    if for_update:
        stmt = stmt.with_for_update(of=Membership)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def lock_memberships(
    session: AsyncSession, company_id: int, user_ids: Sequence[int]
) -> dict[int, Membership]:
    """Lock the memberships of these users in id order (no deadlock between two lockers)."""
    stmt = (
        select(Membership)
        .where(Membership.company_id == company_id, Membership.user_id.in_(list(user_ids)))
        .order_by(Membership.id)
        .with_for_update()
    )
    return {m.user_id: m for m in (await session.scalars(stmt)).all()}


async def delete_membership(session: AsyncSession, membership: Membership) -> None:
    await session.execute(delete(Membership).where(Membership.id == membership.id))


async def add_membership(
    session: AsyncSession, company_id: int, user_id: int, role: CompanyRole
) -> Membership | None:
    """Insert a membership; None when the user is already in the company (unique index)."""
    membership = Membership(company_id=company_id, user_id=user_id, role=role.value)
    try:
        async with session.begin_nested():
            session.add(membership)
            await session.flush()
    except IntegrityError:
        return None
    return membership


async def staff_ids(session: AsyncSession, company_id: int) -> list[int]:
    stmt = select(Membership.user_id).where(
        Membership.company_id == company_id, Membership.role.in_(STAFF_ROLE_VALUES)
    )
    return list((await session.scalars(stmt)).all())


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def find_user(
    session: AsyncSession, *, user_id: int | None = None, email: str | None = None
) -> User | None:
    stmt = select(User)
    if user_id is not None:
        stmt = stmt.where(User.id == user_id)
    else:
        stmt = stmt.where(User.email == (email or "").lower())
    return (await session.scalars(stmt)).first()


async def is_member(session: AsyncSession, company_id: int, user_id: int) -> bool:
    stmt = select(Membership.id).where(
        Membership.company_id == company_id, Membership.user_id == user_id
    )
    return (await session.scalar(stmt)) is not None


# --- invitations and join requests: one lifecycle, two tables -----------------

Pending = Invitation | JoinRequest


def pending_items(
    model: type[PendingT],
    *,
    status: str | None,
    company_id: int | None = None,
    user_id: int | None = None,
) -> Select[PendingT]:
    """Invitations or requests of a company and/or a user, newest first; `status=None` = all."""
    stmt = select(model).order_by(model.created_at.desc(), model.id.desc())
    if company_id is not None:
        stmt = stmt.where(model.company_id == company_id)
    if user_id is not None:
        stmt = stmt.where(model.user_id == user_id)
    if status is not None:
        stmt = stmt.where(model.status == status)
    return stmt


async def get_item(session: AsyncSession, model: type[PendingT], item_id: int) -> PendingT | None:
    return await session.get(model, item_id)


async def add_pending_item(session: AsyncSession, item: PendingT) -> PendingT | None:
    """Insert a new pending invitation / request; None if one is pending already."""
    try:
        async with session.begin_nested():
            session.add(item)
            await session.flush()
    except IntegrityError:
        return None
    return item


async def transition(
    session: AsyncSession,
    model: type[PendingT],
    item_id: int,
    to_status: RequestStatus,
    *,
    user_id: int | None = None,
) -> PendingT | None:
    """`UPDATE … SET status WHERE id AND status = 'pending' RETURNING …`.

    The conditional update is the whole race guard: of two concurrent callers
    (accept and accept, accept and cancel) only one sees the pending row; the
    other gets None (PostgreSQL re-checks the condition after the row lock).
    Flows that touch both tables lock invitation rows before request rows.
    """
    stmt = (
        update(model)
        .where(model.id == item_id, model.status == RequestStatus.pending.value)
        .values(status=to_status.value, updated_at=utcnow())
        .returning(model)
        .execution_options(populate_existing=True)
    )
    if user_id is not None:
        stmt = stmt.where(model.user_id == user_id)
    return (await session.scalars(stmt)).first()


async def close_pending(
    session: AsyncSession,
    model: type[Pending],
    company_id: int,
    user_id: int,
    to_status: RequestStatus,
) -> None:
    """Close what is still pending for this user and company (they just joined)."""
    await session.execute(
        update(model)
        .where(
            model.company_id == company_id,
            model.user_id == user_id,
            model.status == RequestStatus.pending.value,
        )
        .values(status=to_status.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


CompanyObjectT = TypeVar("CompanyObjectT", Quiz, Attempt)


async def get_with_caller_role(
    session: AsyncSession, model: type[CompanyObjectT], object_id: int, user_id: int
) -> tuple[CompanyObjectT, str | None] | None:
    """A company-owned row and the caller's role in its company (None: not a member), in
    one query; None when the row does not exist."""
    stmt = (
        select(model, Membership.role)
        .outerjoin(
            Membership,
            and_(Membership.company_id == model.company_id, Membership.user_id == user_id),
        )
        .where(model.id == object_id)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])
