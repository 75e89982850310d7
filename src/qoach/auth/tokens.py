"""Our own JWTs: HS256 access and refresh tokens, with pinned algorithms.

Both carry `sub` (user id), `sid` (the login, an `auth_sessions` row) and `typ`.
A refresh token also carries `jti`, the one value its login will accept next.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from qoach.config import Settings

ISSUER = "qoach"
ALGORITHM = "HS256"
TokenType = Literal["access", "refresh"]


class InvalidToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    session_id: int
    type: TokenType
    jti: str
    expires_at: datetime


def new_jti() -> str:
    return secrets.token_urlsafe(24)


def _key(settings: Settings, token_type: TokenType) -> str:
    return settings.secret_key if token_type == "access" else settings.refresh_secret_key


def encode_token(
    settings: Settings,
    *,
    token_type: TokenType,
    user_id: int,
    session_id: int,
    jti: str | None = None,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    now = now or datetime.now(UTC)
    if token_type == "access":
        expires = now + timedelta(minutes=settings.access_token_expire_minutes)
    else:
        expires = now + timedelta(days=settings.refresh_token_expire_days)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(user_id),
        "sid": session_id,
        "typ": token_type,
        "jti": jti or new_jti(),
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(claims, _key(settings, token_type), algorithm=ALGORITHM), expires


def decode_token(settings: Settings, token: str, token_type: TokenType) -> TokenClaims:
    try:
        claims = jwt.decode(
            token,
            _key(settings, token_type),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "sid", "typ", "jti", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.get("typ") != token_type:
        raise InvalidToken("wrong token type")
    try:
        return TokenClaims(
            user_id=int(claims["sub"]),
            session_id=int(claims["sid"]),
            type=token_type,
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidToken("malformed claims") from exc


def unverified_algorithm(token: str) -> str | None:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    alg = header.get("alg")
    return alg if isinstance(alg, str) else None
