"""Who is calling: `CurrentUser` / `CurrentAuth` for routes, `authenticate_token` for sockets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp

from qoach.auth.tokens import InvalidToken, decode_token, unverified_algorithm
from qoach.config import Settings
from qoach.db.session import SessionDep
from qoach.errors import Unauthorized
from qoach.models import AuthSession, User

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/login",
    auto_error=False,
    description="An access token from `POST /auth/login` (or an Auth0 access token).",
)


@dataclass(frozen=True, slots=True)
class AuthContext:
    user: User
    # the login (auth_sessions row) of our own tokens; None for Auth0 tokens
    session_id: int | None


async def authenticate_token(
    app: ASGIApp, settings: Settings, session: AsyncSession, token: str
) -> AuthContext:
    """Resolve a bearer token to its user, or raise Unauthorized."""
    if not token or len(token) > 8192:
        raise Unauthorized("Invalid or expired token")
    algorithm = unverified_algorithm(token)
    if algorithm == "RS256" and settings.auth0_enabled:
        from qoach.auth.auth0 import user_from_auth0_token

        user = await user_from_auth0_token(app, settings, session, token)
        return AuthContext(user=user, session_id=None)
    try:
        claims = decode_token(settings, token, "access")
    except InvalidToken as exc:
        raise Unauthorized("Invalid or expired token") from exc
    row = (
        await session.execute(
            select(User, AuthSession.revoked_at, AuthSession.expires_at)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(AuthSession.id == claims.session_id, User.id == claims.user_id)
        )
    ).first()
    if row is None:
        raise Unauthorized("Invalid or expired token")
    user, revoked_at, expires_at = row
    if revoked_at is not None or expires_at <= datetime.now(UTC):
        raise Unauthorized("Invalid or expired token")
    return AuthContext(user=user, session_id=claims.session_id)


async def get_auth_context(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> AuthContext:
    if not token:
        raise Unauthorized("Not authenticated")
    settings: Settings = request.app.state.settings
    return await authenticate_token(request.app, settings, session, token)


async def get_current_user(auth: Annotated[AuthContext, Depends(get_auth_context)]) -> User:
    return auth.user


CurrentAuth = Annotated[AuthContext, Depends(get_auth_context)]
CurrentUser = Annotated[User, Depends(get_current_user)]
