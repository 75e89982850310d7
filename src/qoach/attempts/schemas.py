"""Attempt submissions in, attempt objects out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from qoach.params import MAX_ID
from qoach.quizzes.schemas import MAX_ANSWERS, MAX_QUESTIONS

DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


class AttemptAnswerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question_id: DbId
    answer_ids: list[DbId] = Field(
        default_factory=list,
        max_length=MAX_ANSWERS,
        description="The chosen answers of this question (distinct); empty = unanswered.",
    )


class AttemptCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: list[AttemptAnswerCreate] = Field(
        max_length=MAX_QUESTIONS,
        description=(
            "One item per answered question of the quiz's current version; questions "
            "left out count as unanswered (wrong)."
        ),
    )


class AttemptResult(BaseModel):
    question_id: int
    is_correct: bool


class AttemptRead(BaseModel):
    id: int
    quiz_id: int
    company_id: int
    user_id: int
    quiz_version: int
    correct_count: int
    question_count: int
    score: float = Field(description="correct_count / question_count (0 to 1).")
    completed_at: datetime
    results: list[AttemptResult] = Field(
        description="Every question of the version the attempt answered, in order."
    )


def encode_attempt(
    *,
    id: int,
    quiz_id: int,
    company_id: int,
    user_id: int,
    quiz_version: int,
    correct_count: int,
    question_count: int,
    completed_at: object,
    question_ids: Sequence[int],
    correct: Sequence[bool],
) -> bytes:
    """The JSON of an `AttemptRead`, built straight from values the service already typed.

    Same bytes as `AttemptRead(...).model_dump_json()` (pydantic-core encodes both),
    without building and validating 1 + N models on the submit path.
    """
    return to_json(
        {
            "id": id,
            "quiz_id": quiz_id,
            "company_id": company_id,
            "user_id": user_id,
            "quiz_version": quiz_version,
            "correct_count": correct_count,
            "question_count": question_count,
            "score": correct_count / question_count if question_count else 0.0,
            "completed_at": completed_at,
            "results": [
                {"question_id": q, "is_correct": ok}
                for q, ok in zip(question_ids, correct, strict=True)
            ],
        }
    )
