from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from qoach.db.base import Base, CreatedAtMixin
from qoach.db.types import JSONType, UTCDateTime


class NotificationKind(StrEnum):
    quiz_created = "quiz_created"
    quiz_reminder = "quiz_reminder"
    invitation_received = "invitation_received"
    invitation_accepted = "invitation_accepted"
    join_request_received = "join_request_received"
    request_accepted = "request_accepted"


class Notification(CreatedAtMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index(
            "ix_notifications_user_id_unread",
            "user_id",
            postgresql_where=text("is_read = false"),
            sqlite_where=text("is_read = 0"),
        ),
        Index("ix_notifications_company_id", "company_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_read: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set for notifications that must exist at most once (e.g. one reminder per
    # user, quiz and day); the unique index is the exactly-once guarantee.
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class JobRun(CreatedAtMixin, Base):
    """A claim row: the first instance to insert (job, run_key) runs that job."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
