"""SQL for users and their logins (auth_sessions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import AuthSession, Company, Membership, User
from qoach.pagination import escape_like


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.scalars(select(User).where(User.email == email.lower()))).first()


async def email_exists(session: AsyncSession, email: str) -> bool:
    found = await session.scalar(select(User.id).where(User.email == email.lower()))
    return found is not None


def _search_filter(search: str) -> ColumnElement[bool]:
    pattern = f"%{escape_like(search)}%"
    full_name = func.coalesce(User.first_name, "") + " " + func.coalesce(User.last_name, "")
    return or_(
        User.first_name.ilike(pattern, escape="\\"),
        User.last_name.ilike(pattern, escape="\\"),
        User.email.ilike(pattern, escape="\\"),
        full_name.ilike(pattern, escape="\\"),
    )


def users_query(search: str | None) -> Select[User]:
    stmt = select(User)
    if search:
        stmt = stmt.where(_search_filter(search))
    return stmt


async def list_users(
    session: AsyncSession, *, search: str | None, limit: int, offset: int
) -> tuple[Sequence[User], int]:
    stmt = users_query(search)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = (await session.scalars(stmt.order_by(User.id).limit(limit).offset(offset))).all()
    return items, int(total or 0)


async def revoke_sessions(
    session: AsyncSession,
    user_id: int,
    *,
    now: datetime,
    only_id: int | None = None,
    except_id: int | None = None,
) -> list[int]:
    """Set `revoked_at` on live logins of the user; returns the ids revoked now."""
    stmt = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(AuthSession.id)
    )
    if only_id is not None:
        stmt = stmt.where(AuthSession.id == only_id)
    if except_id is not None:
        stmt = stmt.where(AuthSession.id != except_id)
    return list((await session.scalars(stmt)).all())


async def delete_owned_companies(session: AsyncSession, user_id: int) -> None:
    owned = select(Membership.company_id).where(
        Membership.user_id == user_id, Membership.role == "owner"
    )
    await session.execute(
        delete(Company).where(Company.id.in_(owned)).execution_options(synchronize_session=False)
    )


async def delete_user(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        delete(User).where(User.id == user_id).execution_options(synchronize_session=False)
    )
