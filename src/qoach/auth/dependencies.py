"""Who is calling: `CurrentUser` / `CurrentAuth` for routes, `authenticate_token` for sockets.

`CurrentUser` loads the ORM `User` (one query: the login and its user) for routes
that need the object. A hot read route may take `TokenCallerDep` instead: the token
is verified without a query and the route checks the login inside its own single
query (`login_is_live` on the `auth_sessions` columns it selects), so that a logout
or a deleted user is refused at once all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp

from qoach.auth.tokens import (
    InvalidToken,
    TokenClaims,
    decode_access_token,
    is_verified_access_token,
    unverified_algorithm,
)
from qoach.config import Settings
from qoach.db.session import SessionDep, commit
from qoach.errors import Unauthorized
from qoach.models import AuthSession, User

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/login",
    auto_error=False,
    description="An access token from `POST /auth/login` (or an Auth0 access token).",
)

INVALID_TOKEN = "Invalid or expired token"


@dataclass(frozen=True, slots=True)
class AuthContext:
    user: User
    # the login (auth_sessions row) of our own tokens; None for Auth0 tokens
    session_id: int | None


@dataclass(frozen=True, slots=True)
class TokenCaller:
    """The caller as a verified bearer token names them.

    For our own tokens `session_id` is the login, and it has NOT been checked yet: the
    route must select that `auth_sessions` row (joined to its user) in its query and
    answer 401 unless `login_is_live(...)`. Auth0 tokens are resolved to a user at once
    (`session_id` None): nothing is left to check.
    """

    user_id: int
    session_id: int | None


def login_is_live(revoked_at: datetime | None, expires_at: datetime | None) -> bool:
    """The login row found (`expires_at` not None), not revoked, not expired."""
    return expires_at is not None and revoked_at is None and expires_at > datetime.now(UTC)


def _unauthorized() -> Unauthorized:
    return Unauthorized(INVALID_TOKEN)


def _check_size(token: str) -> None:
    if not token or len(token) > 8192:
        raise _unauthorized()


def _access_claims(settings: Settings, token: str) -> TokenClaims:
    try:
        return decode_access_token(settings, token)
    except InvalidToken as exc:
        raise _unauthorized() from exc


def _is_auth0(settings: Settings, token: str) -> bool:
    return (
        settings.auth0_enabled
        and not is_verified_access_token(settings, token)
        and unverified_algorithm(token) == "RS256"
    )


# the login and its user; built once (bound at execution)
_USER_AND_LOGIN = (
    select(User, AuthSession.revoked_at, AuthSession.expires_at)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(AuthSession.id == bindparam("session_id"), User.id == bindparam("user_id"))
)


async def authenticate_token(
    app: ASGIApp, settings: Settings, session: AsyncSession, token: str
) -> AuthContext:
    """Resolve a bearer token to its user, or raise Unauthorized."""
    _check_size(token)
    if _is_auth0(settings, token):
        from qoach.auth.auth0 import user_from_auth0_token

        user = await user_from_auth0_token(app, settings, session, token)
        return AuthContext(user=user, session_id=None)
    claims = _access_claims(settings, token)
    row = (
        await session.execute(
            _USER_AND_LOGIN, {"session_id": claims.session_id, "user_id": claims.user_id}
        )
    ).first()
    if row is None:
        raise _unauthorized()
    user, revoked_at, expires_at = row
    if not login_is_live(revoked_at, expires_at):
        raise _unauthorized()
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


async def get_token_caller(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> TokenCaller:
    """The caller from the token alone (no query for our own tokens); see `TokenCaller`.

    Takes no request session: an Auth0 token is resolved (its user created on first
    use) in a transaction of its own, committed here.
    """
    if not token:
        raise Unauthorized("Not authenticated")
    settings: Settings = request.app.state.settings
    _check_size(token)
    if _is_auth0(settings, token):
        maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
        async with maker() as session:
            auth = await authenticate_token(request.app, settings, session, token)
            await commit(session)
        return TokenCaller(user_id=auth.user.id, session_id=None)
    claims = _access_claims(settings, token)
    return TokenCaller(user_id=claims.user_id, session_id=claims.session_id)


CurrentAuth = Annotated[AuthContext, Depends(get_auth_context)]
CurrentUser = Annotated[User, Depends(get_current_user)]
TokenCallerDep = Annotated[TokenCaller, Depends(get_token_caller)]
