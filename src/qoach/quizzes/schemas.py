"""Quiz definitions in (`QuizCreate`, `QuizUpdate`) and the public / admin views out.

The public view uses its own answer schema without `is_correct`, so that no
serialisation setting can ever leak which answers are right.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from qoach.models import Answer, Question, Quiz, QuizVersion
from qoach.text import NO_NUL

MIN_QUESTIONS = 2
MAX_QUESTIONS = 100
MIN_ANSWERS = 2
MAX_ANSWERS = 4
MAX_FREQUENCY_DAYS = 3650

QuizTitle = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
QuizDescription = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=NO_NUL)
]
QuestionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=NO_NUL)
]
AnswerText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=NO_NUL)
]
FrequencyDays = Annotated[int, Field(ge=1, le=MAX_FREQUENCY_DAYS)]


class AnswerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: AnswerText
    is_correct: bool


class QuestionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: QuestionText
    answers: list[AnswerCreate] = Field(
        min_length=MIN_ANSWERS,
        max_length=MAX_ANSWERS,
        description="2–4 answers with distinct texts, at least one of them correct.",
    )

    @field_validator("answers")
    @classmethod
    def _answers_rules(cls, answers: list[AnswerCreate]) -> list[AnswerCreate]:
        seen: set[str] = set()
        for answer in answers:
            key = answer.text.strip().casefold()
            if key in seen:
                raise ValueError(f"answer texts must be distinct: {answer.text!r} repeats")
            seen.add(key)
        if not any(answer.is_correct for answer in answers):
            raise ValueError("at least one answer must be correct")
        return answers


class QuizCreate(BaseModel):
    """A whole quiz definition (`POST` creates version 1, `PUT` the next version)."""

    model_config = ConfigDict(extra="forbid")

    title: QuizTitle
    description: QuizDescription | None = None
    frequency_days: FrequencyDays = Field(
        default=1, description="How often (in days) members are expected to take the quiz."
    )
    questions: list[QuestionCreate] = Field(
        min_length=MIN_QUESTIONS, max_length=MAX_QUESTIONS, description="2–100 questions."
    )

    @field_validator("description")
    @classmethod
    def _blank_description(cls, value: str | None) -> str | None:
        return value or None


class QuizUpdate(BaseModel):
    """`PATCH`: title, description and frequency only; `description: null` clears it."""

    model_config = ConfigDict(extra="forbid")

    title: QuizTitle | None = None
    description: QuizDescription | None = None
    frequency_days: FrequencyDays | None = None

    @field_validator("title", "frequency_days", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # runs only for fields actually sent: an explicit null is invalid here
        if value is None:
            raise ValueError("may not be null")
        return value

    @field_validator("description")
    @classmethod
    def _blank_description(cls, value: str | None) -> str | None:
        return value or None


class AnswerPublicRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str


class AnswerAdminRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    is_correct: bool


class QuestionPublicRead(BaseModel):
    id: int
    text: str
    answers: list[AnswerPublicRead]


class QuestionAdminRead(BaseModel):
    id: int
    text: str
    answers: list[AnswerAdminRead]


class _QuizBase(BaseModel):
    id: int
    company_id: int
    title: str
    description: str | None
    frequency_days: int
    version: int
    created_at: datetime
    updated_at: datetime


def _quiz_fields(quiz: Quiz) -> dict[str, Any]:
    return {
        "id": quiz.id,
        "company_id": quiz.company_id,
        "title": quiz.title,
        "description": quiz.description,
        "frequency_days": quiz.frequency_days,
        "version": quiz.version,
        "created_at": quiz.created_at,
        "updated_at": quiz.updated_at,
    }


class QuizPublicRead(_QuizBase):
    """What members see: questions and answers, nothing about which are correct."""

    questions: list[QuestionPublicRead]


class QuizPublicHead(_QuizBase):
    """The quiz's own fields of the public view (its questions are cached apart)."""


class QuizAdminRead(_QuizBase):
    """What staff see: the public view plus `is_correct` on every answer."""

    questions: list[QuestionAdminRead]

    @classmethod
    def build(cls, quiz: Quiz, version: QuizVersion) -> QuizAdminRead:
        return cls(
            **_quiz_fields(quiz),
            questions=[_admin_question(question) for question in version.questions],
        )


def _admin_question(question: Question) -> QuestionAdminRead:
    answers: list[Answer] = question.answers
    return QuestionAdminRead(
        id=question.id,
        text=question.text,
        answers=[AnswerAdminRead(id=a.id, text=a.text, is_correct=a.is_correct) for a in answers],
    )


class QuizSummary(_QuizBase):
    """A quiz in a list: no questions, their number instead."""

    model_config = ConfigDict(from_attributes=True)

    question_count: int
