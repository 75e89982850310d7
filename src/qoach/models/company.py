from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from qoach.db.base import Base, TimestampMixin
from qoach.db.types import UTCDateTime, utcnow


class CompanyRole(StrEnum):
    owner = "owner"
    admin = "admin"
    member = "member"


class RequestStatus(StrEnum):
    """States shared by invitations and join requests."""

    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    rejected = "rejected"
    canceled = "canceled"


class Company(TimestampMixin, Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    is_visible: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        Index("uq_memberships_company_id_user_id", "company_id", "user_id", unique=True),
        Index("ix_memberships_user_id", "user_id"),
        # exactly one owner per company, enforced by the database
        Index(
            "uq_memberships_one_owner",
            "company_id",
            unique=True,
            postgresql_where=text("role = 'owner'"),
            sqlite_where=text("role = 'owner'"),
        ),
        CheckConstraint("role IN ('owner', 'admin', 'member')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


_STATUS_CHECK = "status IN ('pending', 'accepted', 'declined', 'rejected', 'canceled')"


class Invitation(TimestampMixin, Base):
    __tablename__ = "invitations"
    __table_args__ = (
        Index(
            "uq_invitations_pending",
            "company_id",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_invitations_user_id_status", "user_id", "status"),
        Index("ix_invitations_company_id_status", "company_id", "status"),
        CheckConstraint(_STATUS_CHECK, name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.pending.value)


class JoinRequest(TimestampMixin, Base):
    __tablename__ = "join_requests"
    __table_args__ = (
        Index(
            "uq_join_requests_pending",
            "company_id",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_join_requests_user_id_status", "user_id", "status"),
        Index("ix_join_requests_company_id_status", "company_id", "status"),
        CheckConstraint(_STATUS_CHECK, name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.pending.value)
