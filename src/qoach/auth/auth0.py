"""Auth0 (RS256) tokens: verified against the tenant's JWKS, user found by email.

The JWKS is cached on `app.state` and fetched again only when a token names an
unknown `kid`, at most once per `JWKS_REFRESH_INTERVAL` seconds (key rotation is
picked up; a flood of made-up kids does not hammer the tenant). Only RS256 is
accepted, `exp`, `iss` and `aud` are required, and tokens carrying `jku`, `x5u`,
`jwk` or `x5c` headers are refused outright: keys come from our JWKS URL only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp

from qoach.auth import repository
from qoach.config import Settings
from qoach.errors import Unauthorized
from qoach.models import User
from qoach.users import repository as users_repository

logger = logging.getLogger("qoach.auth")

ALGORITHM = "RS256"
JWKS_REFRESH_INTERVAL = 30.0
JWKS_TIMEOUT_SECONDS = 5.0
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})


class Auth0Error(Exception):
    pass


@dataclass
class JwksCache:
    url: str
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float | None = None  # monotonic time of the last fetch attempt
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _may_fetch(self) -> bool:
        return (
            self.fetched_at is None or time.monotonic() - self.fetched_at >= JWKS_REFRESH_INTERVAL
        )

    async def key(self, kid: str) -> jwt.PyJWK:
        found = self.keys.get(kid)
        if found is not None:
            return found
        async with self.lock:
            found = self.keys.get(kid)  # another request may have fetched meanwhile
            if found is None and self._may_fetch():
                await self._fetch()
                found = self.keys.get(kid)
        if found is None:
            raise Auth0Error(f"unknown key id {kid!r}")
        return found

    async def _fetch(self) -> None:
        self.fetched_at = time.monotonic()
        try:
            async with httpx.AsyncClient(
                timeout=JWKS_TIMEOUT_SECONDS, follow_redirects=False
            ) as client:
                response = await client.get(self.url, headers={"Accept": "application/json"})
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("could not fetch the Auth0 JWKS from %s: %s", self.url, exc)
            return
        self.keys = _parse_jwks(document)


def _parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        logger.warning("the Auth0 JWKS has no `keys` list")
        return keys
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str):
            continue
        try:
            keys[kid] = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            logger.warning("skipping unusable JWKS key %s: %s", kid, exc)
    return keys


def _jwks_cache(app: ASGIApp, settings: Settings) -> JwksCache:
    state = app.state  # type: ignore[attr-defined]
    url = settings.auth0_jwks
    if not url:
        raise Auth0Error("no JWKS URL")
    cache: JwksCache | None = getattr(state, "auth0_jwks_cache", None)
    if cache is None or cache.url != url:
        cache = JwksCache(url=url)
        state.auth0_jwks_cache = cache
    return cache


async def verify_auth0_token(app: ASGIApp, settings: Settings, token: str) -> dict[str, Any]:
    """The verified claims of an Auth0 access token; raises on anything wrong."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Auth0Error("malformed token") from exc
    if header.get("alg") != ALGORITHM:
        raise Auth0Error("algorithm not allowed")
    if FORBIDDEN_HEADERS & header.keys():
        raise Auth0Error("key-location headers are not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Auth0Error("no key id")
    key = await _jwks_cache(app, settings).key(kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[ALGORITHM],
            audience=settings.auth0_audience,
            issuer=settings.auth0_issuer_url,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise Auth0Error(str(exc)) from exc
    return claims


def _email_of(settings: Settings, claims: dict[str, Any]) -> str:
    email = claims.get(settings.auth0_email_claim)
    if not isinstance(email, str) or "@" not in email or len(email) > 320:
        raise Auth0Error("no usable email claim")
    # a tenant that says the address is unverified must not take over an account
    if claims.get("email_verified") is False:
        raise Auth0Error("email not verified")
    return email.strip().lower()


async def _get_or_create_user(session: AsyncSession, email: str, sub: str) -> User:
    user = await users_repository.get_user_by_email(session, email)
    if user is not None:
        return user
    await repository.insert_user_if_absent(session, email=email, auth0_sub=sub)
    user = await users_repository.get_user_by_email(session, email)
    if user is None:
        # the insert lost on `auth0_sub`: the account exists under its former email
        user = await repository.get_user_by_auth0_sub(session, sub)
    if user is None:
        raise Auth0Error("could not create the user")
    return user


async def user_from_auth0_token(
    app: ASGIApp, settings: Settings, session: AsyncSession, token: str
) -> User:
    try:
        claims = await verify_auth0_token(app, settings, token)
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise Auth0Error("bad sub")
        return await _get_or_create_user(session, _email_of(settings, claims), sub)
    except Auth0Error as exc:
        logger.info("Auth0 token refused: %s", exc)
        raise Unauthorized("Invalid or expired token") from exc
