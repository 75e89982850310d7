"""Request and response bodies of `/auth/*`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from qoach.errors import ErrorRead
from qoach.text import NO_NUL
from qoach.users.schemas import UserCreate, UserRead

__all__ = ["LoginRequest", "RefreshRequest", "RegisterRequest", "TokenPair", "UserRead"]

RegisterRequest = UserCreate

TokenText = Annotated[str, Field(min_length=1, max_length=8192)]


class LoginRequest(BaseModel):
    """JSON login. The same endpoint also takes the OAuth2 password form."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[
        str, Field(min_length=1, max_length=320, pattern=NO_NUL, description="Any case.")
    ]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: TokenText


class LogoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: TokenText


def error_responses(*pairs: tuple[int, str]) -> dict[int | str, dict[str, object]]:
    """`responses=` entries for a route's error codes: `(status, description)` pairs."""
    return {status: {"model": ErrorRead, "description": text} for status, text in pairs}
