"""Companies, memberships, and the pieces shared by invitations and join requests."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from qoach.errors import error_responses
from qoach.models import CompanyRole, RequestStatus
from qoach.params import MAX_ID
from qoach.text import NO_NUL
from qoach.users.schemas import UserRead

CompanyName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)
]
CompanyDescription = Annotated[str, StringConstraints(max_length=1000, pattern=NO_NUL)]


class CompanyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CompanyName
    description: CompanyDescription | None = None
    is_visible: bool = True


class CompanyUpdate(BaseModel):
    """Partial update; fields left out stay as they are. `description: null` clears it."""

    model_config = ConfigDict(extra="forbid")

    name: CompanyName | None = None
    description: CompanyDescription | None = None
    is_visible: bool | None = None

    @field_validator("name", "is_visible")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # runs only for values actually sent: an explicit null is invalid here
        if value is None:
            raise ValueError("may not be null")
        return value


class CompanyRead(BaseModel):
    id: int
    name: str
    description: str | None
    is_visible: bool
    created_at: datetime
    updated_at: datetime
    role: CompanyRole | None = Field(description="The caller's role in the company, or null.")


class MemberRead(BaseModel):
    user: UserRead
    role: CompanyRole
    joined_at: datetime


class MembershipRead(BaseModel):
    user: UserRead
    company_id: int
    role: CompanyRole
    joined_at: datetime


class OwnerTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(ge=1, le=MAX_ID)


class StatusFilter(StrEnum):
    """`status` query filter of invitation and request lists (`all` = every state)."""

    pending = RequestStatus.pending.value
    accepted = RequestStatus.accepted.value
    declined = RequestStatus.declined.value
    rejected = RequestStatus.rejected.value
    canceled = RequestStatus.canceled.value
    all = "all"


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: 401 plus each listed status with the error body."""
    return error_responses(*codes, e403="Your role in the company does not allow this")
