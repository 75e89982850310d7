"""What the notification endpoints read and return."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qoach.pagination import Page


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(
        description="quiz_created | quiz_reminder | invitation_received | "
        "invitation_accepted | join_request_received | request_accepted"
    )
    title: str
    body: str
    company_id: int | None
    payload: dict[str, Any]
    is_read: bool
    created_at: datetime


class NotificationPage(Page[NotificationRead]):
    unread_count: int = Field(description="Unread notifications of the caller (all pages).")


class ReadAllResult(BaseModel):
    updated: int = Field(description="How many notifications were unread and are now read.")
