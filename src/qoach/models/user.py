from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from qoach.db.base import Base, CreatedAtMixin, TimestampMixin
from qoach.db.types import UTCDateTime

# SQLite hands out the id of a deleted last row again unless the table is AUTOINCREMENT;
# a token naming a deleted user (or login) must never name the next one.
_NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = _NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    auth0_sub: Mapped[str | None] = mapped_column(String(255), unique=True)


class AuthSession(CreatedAtMixin, Base):
    """One login: the family of its refresh tokens and the access tokens they mint.

    `refresh_jti` is the one refresh token of the family that may still be used;
    presenting any older one is reuse and revokes the family.
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id"), _NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    refresh_jti: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
