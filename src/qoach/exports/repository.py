"""The export query: one row per question of each attempt, in a stable order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from qoach.analytics.repository import MAX_ANSWERS, attempt_filters
from qoach.dates import DateRange
from qoach.models import Answer, Attempt, AttemptAnswer, Question, Quiz, User


@dataclass(frozen=True, slots=True)
class ExportFilters:
    dates: DateRange
    user_id: int | None = None
    company_id: int | None = None
    quiz_id: int | None = None


def _chosen_text(position: int) -> Any:
    """The text of the answer at `position` when the attempt chose it, else NULL.

    One correlated lookup per answer position (at most 4): the texts come back in
    position order without an ordered string aggregate, which SQLite before 3.44
    lacks. The mask test depends only on the outer row, so the database skips the
    lookup for answers that were not chosen.
    """
    return (
        select(Answer.text)
        .where(
            Answer.question_id == AttemptAnswer.question_id,
            Answer.position == position,
            AttemptAnswer.selected_mask.bitwise_and(1 << position) != 0,
        )
        .correlate(AttemptAnswer)
        .scalar_subquery()
        .label(f"chosen_{position}")
    )


def export_statement(filters: ExportFilters) -> Select[Any]:
    """Rows ordered by completed_at, attempt id, question position."""
    return (
        select(
            Attempt.id.label("attempt_id"),
            Attempt.completed_at,
            Attempt.user_id,
            User.email.label("user_email"),
            Attempt.company_id,
            Attempt.quiz_id,
            Quiz.title.label("quiz_title"),
            Question.id.label("question_id"),
            Question.text.label("question_text"),
            *(_chosen_text(p) for p in range(MAX_ANSWERS)),
            AttemptAnswer.is_correct,
        )
        .select_from(Attempt)
        .join(AttemptAnswer, AttemptAnswer.attempt_id == Attempt.id)
        .join(Question, Question.id == AttemptAnswer.question_id)
        .join(User, User.id == Attempt.user_id)
        .join(Quiz, Quiz.id == Attempt.quiz_id)
        .where(
            *attempt_filters(
                filters.dates,
                user_id=filters.user_id,
                company_id=filters.company_id,
                quiz_id=filters.quiz_id,
            )
        )
        .order_by(Attempt.completed_at, Attempt.id, Question.position)
    )
