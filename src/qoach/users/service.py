"""Reading users, and the caller changing or deleting their own account."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qoach.auth.passwords import hash_password, verify_password
from qoach.auth.service import schedule_session_revoked
from qoach.broker import Broker
from qoach.errors import Forbidden, NotFound
from qoach.models import User
from qoach.users import repository
from qoach.users.schemas import UserUpdate


async def list_users(
    session: AsyncSession, *, search: str | None, limit: int, offset: int
) -> tuple[Sequence[User], int]:
    return await repository.list_users(session, search=search, limit=limit, offset=offset)


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFound("User not found", code="user_not_found")
    return user


async def update_me(
    session: AsyncSession,
    broker: Broker,
    user: User,
    data: UserUpdate,
    *,
    current_session_id: int | None,
) -> User:
    """Apply the fields sent; a new password needs the current one and ends other logins."""
    changes = data.model_dump(exclude_unset=True, exclude={"password", "current_password"})
    if data.password is not None:
        if data.current_password is None or not await verify_password(
            data.current_password, user.password_hash
        ):
            raise Forbidden("The current password is missing or wrong", code="wrong_password")
        user.password_hash = await hash_password(data.password)
        revoked = await repository.revoke_sessions(
            session, user.id, now=datetime.now(UTC), except_id=current_session_id
        )
        schedule_session_revoked(session, broker, user.id, revoked)
    for field, value in changes.items():
        setattr(user, field, value)
    await session.flush()
    return user


async def delete_me(session: AsyncSession, broker: Broker, user: User) -> None:
    """Delete the companies the user owns (with their data), then the user (FKs cascade)."""
    await repository.delete_owned_companies(session, user.id)
    await repository.delete_user(session, user.id)
    schedule_session_revoked(session, broker, user.id, None)
