"""Attempts and the answer given to each question.

`attempt_answers.selected_mask` stores the chosen answers as bits of their
`answers.position` (a question has at most 4 answers): bit i set means the answer
at position i was chosen. Every question of the attempt's version has a row;
unanswered questions have mask 0 and `is_correct` false.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from qoach.db.base import Base
from qoach.db.types import UTCDateTime, utcnow


class Attempt(Base):
    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_user_id_completed_at", "user_id", "completed_at"),
        # covering on PostgreSQL: the days at the edges of an analytics range, and a
        # quiz's daily / weekly timeline, are summed from these indexes alone
        Index(
            "ix_attempts_company_id_completed_at",
            "company_id",
            "completed_at",
            postgresql_include=["user_id", "quiz_id", "correct_count", "question_count"],
        ),
        Index(
            "ix_attempts_quiz_id_completed_at",
            "quiz_id",
            "completed_at",
            postgresql_include=["correct_count", "question_count"],
        ),
        Index("ix_attempts_quiz_version_id_completed_at", "quiz_version_id", "completed_at"),
        Index("uq_attempts_user_id_idempotency_key", "user_id", "idempotency_key", unique=True),
        CheckConstraint("correct_count >= 0 AND correct_count <= question_count", name="counts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    quiz_version_id: Mapped[int] = mapped_column(ForeignKey("quiz_versions.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    quiz_version: Mapped[int] = mapped_column(Integer)
    correct_count: Mapped[int] = mapped_column(Integer)
    question_count: Mapped[int] = mapped_column(Integer)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))


class AttemptAnswer(Base):
    __tablename__ = "attempt_answers"
    __table_args__ = (
        Index("ix_attempt_answers_question_id", "question_id"),
        CheckConstraint("selected_mask >= 0 AND selected_mask < 16", name="selected_mask"),
    )

    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    selected_mask: Mapped[int] = mapped_column(SmallInteger)
    is_correct: Mapped[bool] = mapped_column(Boolean)
