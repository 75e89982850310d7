"""The export query: one row per question of each attempt, in a stable order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal_column, select

from qoach.analytics.repository import MAX_ANSWERS, attempt_filters
from qoach.dates import DateRange
from qoach.exports.writers import COLUMNS, FORMULA_PREFIXES
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


# --- PostgreSQL: the CSV cells computed in SQL, for COPY (SELECT ...) TO STDOUT ---


def _sql_literal(value: str) -> Any:
    return literal_column("'" + value.replace("'", "''") + "'")


def _cell(value: Any) -> Any:
    """A text cell as `writers.csv_rows` writes it: formula prefix neutralised, and
    '' as NULL (COPY writes NULL unquoted, as Python's csv writes an empty string)."""
    prefixes = [_sql_literal(prefix) for prefix in FORMULA_PREFIXES]
    neutralised = case(
        (func.left(value, 1).in_(prefixes), _sql_literal("'").op("||")(value)), else_=value
    )
    return func.nullif(neutralised, _sql_literal(""))


def _iso_utc(column: Any) -> ColumnElement[str]:
    """`writers.iso`: 2026-11-30T20:00:00Z, with .ffffff only when there are microseconds."""
    utc = func.timezone(literal_column("'UTC'"), column)
    seconds = func.to_char(utc, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS'"))
    fraction = case(
        (func.date_trunc(literal_column("'second'"), utc) == utc, literal_column("''")),
        else_=func.to_char(utc, literal_column("'.US'")),
    )
    return seconds.op("||")(fraction).op("||")(literal_column("'Z'"))


def csv_copy_statement(filters: ExportFilters) -> Select[Any]:
    """`export_statement` with every cell already as the CSV writer would print it.

    The raw values come from an inner query fenced with OFFSET 0: flattened, the
    neutralising CASE would repeat each answer-text lookup three times per row.
    """
    chosen = [_chosen_text(p).element for p in range(MAX_ANSWERS)]
    raw = (
        select(
            Attempt.id.label("attempt_id"),
            Attempt.completed_at,
            Attempt.user_id,
            User.email,
            Attempt.company_id,
            Attempt.quiz_id,
            Quiz.title,
            Question.id.label("question_id"),
            Question.position,
            Question.text,
            func.concat_ws(_sql_literal("; "), *chosen).label("selected"),
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
        .offset(literal_column("0"))
        .subquery("raw")
    )
    c = raw.c
    cells = [
        c.attempt_id,
        _iso_utc(c.completed_at),
        c.user_id,
        _cell(c.email),
        c.company_id,
        c.quiz_id,
        _cell(c.title),
        c.question_id,
        _cell(c.text),
        _cell(c.selected),
        case((c.is_correct, literal_column("'true'")), else_=literal_column("'false'")),
    ]
    return select(*(cell.label(name) for cell, name in zip(cells, COLUMNS, strict=True))).order_by(
        c.completed_at, c.attempt_id, c.position
    )
