"""The user object and the shapes that change it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from qoach.text import NO_NUL

PASSWORD_MIN = 8
PASSWORD_MAX = 128

Password = Annotated[
    str,
    Field(
        min_length=PASSWORD_MIN,
        max_length=PASSWORD_MAX,
        description=f"{PASSWORD_MIN}–{PASSWORD_MAX} characters.",
    ),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100, pattern=NO_NUL)]


class UserRead(BaseModel):
    """A user as every endpoint shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    first_name: str | None
    last_name: str | None
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[EmailStr, Field(max_length=320, description="Stored lower-case.")]
    password: Password
    first_name: Name | None = None
    last_name: Name | None = None


class UserUpdate(BaseModel):
    """Partial update of the caller; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    password: Password | None = Field(
        default=None, description="A new password; needs `current_password`."
    )
    current_password: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None, description="The current password, required to set a new one."
    )
