"""Quizzes and their immutable versions.

`quizzes` holds what may change in place (title, description, frequency) and the
number of the current version. Every `PUT` writes a new `quiz_versions` row with
its own questions and answers; old versions stay, so attempts keep pointing at the
exact questions and answers they saw.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qoach.db.base import Base, CreatedAtMixin, TimestampMixin


class Quiz(TimestampMixin, Base):
    __tablename__ = "quizzes"
    __table_args__ = (
        Index("ix_quizzes_company_id", "company_id"),
        CheckConstraint("frequency_days >= 1", name="frequency_days"),
        CheckConstraint("version >= 1", name="version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    frequency_days: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class QuizVersion(CreatedAtMixin, Base):
    __tablename__ = "quiz_versions"
    __table_args__ = (Index("uq_quiz_versions_quiz_id_version", "quiz_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    question_count: Mapped[int] = mapped_column(Integer)

    questions: Mapped[list[Question]] = relationship(
        lazy="raise", order_by="Question.position", cascade="all, delete-orphan"
    )


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (Index("ix_questions_quiz_version_id", "quiz_version_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_version_id: Mapped[int] = mapped_column(ForeignKey("quiz_versions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)

    answers: Mapped[list[Answer]] = relationship(
        lazy="raise", order_by="Answer.position", cascade="all, delete-orphan"
    )


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (
        Index("ix_answers_question_id", "question_id", "position"),
        CheckConstraint("position >= 0 AND position < 4", name="position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    is_correct: Mapped[bool] = mapped_column(Boolean)
