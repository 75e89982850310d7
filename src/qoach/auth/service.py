"""Registration, password login, refresh-token rotation and logout."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.auth import repository
from qoach.auth.passwords import hash_password, hash_pool, verify_and_update_password
from qoach.auth.ratelimit import LoginRateLimiter
from qoach.auth.schemas import LoginRequest, TokenPair
from qoach.auth.tokens import InvalidToken, decode_token, encode_token, new_jti
from qoach.broker import Broker
from qoach.config import Settings
from qoach.db.session import after_commit, commit
from qoach.errors import Conflict, Unauthorized
from qoach.models import User
from qoach.notifications.events import publish_session_revoked
from qoach.users import repository as users_repository
from qoach.users.schemas import UserCreate

logger = logging.getLogger("qoach.auth")

INVALID_CREDENTIALS = "Incorrect email or password"
INVALID_TOKEN = "Invalid or expired token"


async def register(session: AsyncSession, data: UserCreate) -> User:
    hash_pool().check_room()  # 503 before any work when hashing is saturated
    email = str(data.email).strip().lower()
    if await users_repository.email_exists(session, email):
        raise Conflict("A user with this email already exists", code="email_taken")
    user = User(
        email=email,
        password_hash=await hash_password(data.password),
        first_name=data.first_name,
        last_name=data.last_name,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # registered concurrently
        raise Conflict("A user with this email already exists", code="email_taken") from exc
    return user


def _token_pair(
    settings: Settings, *, user_id: int, session_id: int, jti: str, now: datetime
) -> TokenPair:
    access, _ = encode_token(
        settings, token_type="access", user_id=user_id, session_id=session_id, now=now
    )
    refresh, _ = encode_token(
        settings, token_type="refresh", user_id=user_id, session_id=session_id, jti=jti, now=now
    )
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=settings.access_token_expire_minutes * 60,
    )


def _refresh_expiry(settings: Settings, now: datetime) -> datetime:
    # the same instant as the refresh token's `exp` (whole seconds)
    expires = now + timedelta(days=settings.refresh_token_expire_days)
    return datetime.fromtimestamp(int(expires.timestamp()), UTC)


async def login(
    session: AsyncSession,
    broker: Broker,
    settings: Settings,
    credentials: LoginRequest,
    client_address: str | None,
) -> TokenPair:
    email = credentials.email.strip().lower()
    limiter = LoginRateLimiter(broker, settings)
    await limiter.check(email, client_address)
    hash_pool().check_room()  # 503 before the lookup when hashing is saturated
    user = await users_repository.get_user_by_email(session, email)
    # The one service that commits mid-request: end the read-only transaction so its
    # pooled connection (and SQLite's write lock) is free while argon2 runs for tens of
    # ms in the thread pool; queued logins must not starve every other request.
    await commit(session)
    # an unknown email (or a user without a password) still costs one verification
    valid, new_hash = await verify_and_update_password(
        credentials.password, user.password_hash if user else None
    )
    if user is None or not valid:
        await limiter.record_failure(email, client_address)
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if new_hash is not None:  # made under other argon2 parameters: move it to the current ones
        user.password_hash = new_hash
    now = datetime.now(UTC)
    jti = new_jti()
    auth_session = await repository.create_auth_session(
        session, user_id=user.id, refresh_jti=jti, expires_at=_refresh_expiry(settings, now)
    )
    return _token_pair(settings, user_id=user.id, session_id=auth_session.id, jti=jti, now=now)


async def refresh(
    session: AsyncSession, broker: Broker, settings: Settings, refresh_token: str
) -> TokenPair:
    try:
        claims = decode_token(settings, refresh_token, "refresh")
    except InvalidToken as exc:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token") from exc
    now = datetime.now(UTC)
    jti = new_jti()
    rotated = await repository.rotate_refresh_jti(
        session,
        session_id=claims.session_id,
        user_id=claims.user_id,
        old_jti=claims.jti,
        new_jti=jti,
        now=now,
        expires_at=_refresh_expiry(settings, now),
    )
    if rotated:
        return _token_pair(
            settings, user_id=claims.user_id, session_id=claims.session_id, jti=jti, now=now
        )
    auth_session = await repository.get_auth_session(
        session, session_id=claims.session_id, user_id=claims.user_id
    )
    if (
        auth_session is not None
        and auth_session.revoked_at is None
        and auth_session.expires_at > now
        and auth_session.refresh_jti != claims.jti
    ):
        # A rotated refresh token came back: someone holds a copy. End the whole
        # login, and commit that now — the 401 below must not roll it back.
        logger.warning("refresh token reuse for session %s; revoking it", auth_session.id)
        revoked = await users_repository.revoke_sessions(
            session, claims.user_id, now=now, only_id=auth_session.id
        )
        schedule_session_revoked(session, broker, claims.user_id, revoked)
        await commit(session)
    raise Unauthorized(INVALID_TOKEN, code="invalid_token")


async def logout(
    session: AsyncSession, broker: Broker, settings: Settings, user: User, refresh_token: str
) -> None:
    """Revoke the login of `refresh_token`; it must be one of the caller's own (else 401)."""
    try:
        claims = decode_token(settings, refresh_token, "refresh")
    except InvalidToken as exc:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token") from exc
    if claims.user_id != user.id:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token")
    auth_session = await repository.get_auth_session(
        session, session_id=claims.session_id, user_id=user.id
    )
    if auth_session is None:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token")
    revoked = await users_repository.revoke_sessions(
        session, user.id, now=datetime.now(UTC), only_id=auth_session.id
    )
    schedule_session_revoked(session, broker, user.id, revoked)


def schedule_session_revoked(
    session: AsyncSession, broker: Broker, user_id: int, session_ids: list[int] | None
) -> None:
    """After the commit, tell open sockets of these logins (None = all) to close."""
    if session_ids is not None and not session_ids:
        return

    async def _publish() -> None:
        await publish_session_revoked(broker, user_id, session_ids)

    after_commit(session, _publish)
