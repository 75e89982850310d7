"""SQL for logins (`auth_sessions`) and Auth0 users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import AuthSession, User


async def create_auth_session(
    session: AsyncSession, *, user_id: int, refresh_jti: str, expires_at: datetime
) -> AuthSession:
    row = AuthSession(user_id=user_id, refresh_jti=refresh_jti, expires_at=expires_at)
    session.add(row)
    await session.flush()
    return row


async def rotate_refresh_jti(
    session: AsyncSession,
    *,
    session_id: int,
    user_id: int,
    old_jti: str,
    new_jti: str,
    now: datetime,
    expires_at: datetime,
) -> bool:
    """Swap the accepted refresh jti atomically; False when `old_jti` is not the live one."""
    stmt = (
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.refresh_jti == old_jti,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .values(refresh_jti=new_jti, expires_at=expires_at)
        .returning(AuthSession.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).first() is not None


async def get_auth_session(
    session: AsyncSession, *, session_id: int, user_id: int
) -> AuthSession | None:
    return (
        await session.scalars(
            select(AuthSession).where(AuthSession.id == session_id, AuthSession.user_id == user_id)
        )
    ).first()


async def insert_user_if_absent(
    session: AsyncSession, *, email: str, auth0_sub: str | None
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (any unique key), on either dialect."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(User).values(email=email, auth0_sub=auth0_sub).on_conflict_do_nothing()
    )


async def get_user_by_auth0_sub(session: AsyncSession, sub: str) -> User | None:
    return (await session.scalars(select(User).where(User.auth0_sub == sub))).first()
