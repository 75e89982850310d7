from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from qoach.models import RequestStatus
from qoach.params import MAX_ID


class InvitationCreate(BaseModel):
    """Exactly one of `user_id` and `email` (of a registered user)."""

    model_config = ConfigDict(extra="forbid")

    user_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    email: Annotated[EmailStr, Field(max_length=320)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id and email")
        return self


class InvitationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    company_id: int
    user_id: int
    status: RequestStatus
    created_at: datetime
