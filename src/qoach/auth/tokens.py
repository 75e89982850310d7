"""Our own JWTs: HS256 access and refresh tokens, with pinned algorithms.

Both carry `sub` (user id), `sid` (the login, an `auth_sessions` row) and `typ`.
A refresh token also carries `jti`, the one value its login will accept next.

Verifying a token with PyJWT costs ~0.1–0.2 ms of CPU (it checks the base64 of every
segment character by character), more than the rest of a cached read. Access tokens
that verified are therefore remembered per process (`decode_access_token`): a token's
signature and claims never change, only its expiry is checked again. Whether the
login behind it is still live (logout, a deleted user) is never cached: the callers
ask the database on every request.
"""

from __future__ import annotations

import secrets
import time
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


# (access secret, token) -> its claims, for access tokens that verified; insertion order
# is the eviction order (oldest first). Event-loop use only.
_VERIFIED_ACCESS: dict[tuple[str, str], TokenClaims] = {}
VERIFIED_ACCESS_MAX = 4096


def decode_access_token(settings: Settings, token: str) -> TokenClaims:
    """`decode_token(settings, token, "access")`, remembering the tokens that verified.

    Only tokens that passed every check are kept (at most `VERIFIED_ACCESS_MAX`, the
    oldest go first); a remembered one is refused once its `exp` has passed, exactly
    as PyJWT would. Keyed by the secret as well: another secret verifies nothing.
    """
    key = (settings.secret_key, token)
    claims = _VERIFIED_ACCESS.get(key)
    if claims is None:
        claims = decode_token(settings, token, "access")
        if len(_VERIFIED_ACCESS) >= VERIFIED_ACCESS_MAX:
            del _VERIFIED_ACCESS[next(iter(_VERIFIED_ACCESS))]
        _VERIFIED_ACCESS[key] = claims
    elif claims.expires_at.timestamp() <= time.time():
        del _VERIFIED_ACCESS[key]
        raise InvalidToken("Signature has expired")
    return claims


def is_verified_access_token(settings: Settings, token: str) -> bool:
    """True when `token` is one of our access tokens that verified before (no decoding)."""
    return (settings.secret_key, token) in _VERIFIED_ACCESS


def clear_verified_access_tokens() -> None:
    _VERIFIED_ACCESS.clear()


def unverified_algorithm(token: str) -> str | None:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    alg = header.get("alg")
    return alg if isinstance(alg, str) else None
