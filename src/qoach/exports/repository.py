"""The export queries: one row per question of each attempt, in a stable order; and,
for CSV on PostgreSQL, the same rows as CSV text rendered by the database."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, array

from qoach.analytics.repository import MAX_ANSWERS, attempt_filters
from qoach.dates import DateRange
from qoach.db.types import UTCDateTime
from qoach.exports import writers
from qoach.exports.writers import FORMULA_PREFIXES
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


# --- PostgreSQL: the CSV text rendered in SQL, for COPY (SELECT ...) TO STDOUT ---
#
# One output row per attempt: its CSV lines, CRLF included, as `writers.csv_rows`
# writes them. The work per answer row is one index scan step on attempt_answers,
# one cached lookup (Memoize) of its question's 16 precomputed lines and one append;
# everything else is done once per question or once per attempt.

_ZERO: ColumnElement[int] = literal_column("0")
# Each question's cached lines take ~2 KB; PostgreSQL's default work_mem (4 MB) x
# hash_mem_multiplier (2) holds ~4,000 questions before Memoize starts evicting and
# recomputing (a company-wide export of the scale set touches ~12,000: 8x slower).
# 64 MB: ~60,000 questions.
COPY_WORK_MEM = "64MB"


def _sql_literal(value: str) -> Any:
    return literal_column("'" + value.replace("'", "''") + "'")


def _csv_field(value: Any) -> Any:
    """A text cell as `writers.csv_rows` writes it: formula prefix neutralised, then
    quoted like Python's csv (QUOTE_MINIMAL: a cell holding `,` `"` CR or LF is put in
    quotes with its quotes doubled; the `'` prefix never changes that). `value` is
    repeated: pass a column or a cheap expression, not a subquery."""
    prefixes = [_sql_literal(prefix) for prefix in FORMULA_PREFIXES]
    neutralised = case(
        (func.left(value, literal_column("1")).in_(prefixes), _sql_literal("'").op("||")(value)),
        else_=value,
    )
    doubled = func.replace(neutralised, _sql_literal('"'), _sql_literal('""'))
    quoted = _sql_literal('"').op("||")(doubled).op("||")(_sql_literal('"'))
    return case((value.op("~")(_sql_literal('[",\r\n]')), quoted), else_=neutralised)


def _iso_utc(column: Any) -> ColumnElement[str]:
    """`writers.iso`: 2026-11-30T20:00:00Z, with .ffffff only when there are microseconds."""
    utc = func.timezone(literal_column("'UTC'"), column)
    seconds = func.to_char(utc, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS'"))
    fraction = case(
        (func.date_trunc(literal_column("'second'"), utc) == utc, literal_column("''")),
        else_=func.to_char(utc, literal_column("'.US'")),
    )
    return seconds.op("||")(fraction).op("||")(literal_column("'Z'"))


def _joined(*parts: Any) -> Any:
    """`parts` as text joined with commas (ints are cast)."""
    result: Any = cast(parts[0], Text)
    for part in parts[1:]:
        result = result.op("||")(literal_column("','")).op("||")(cast(part, Text))
    return result


def _question_lines(question_id: Any) -> Any:
    """LATERAL: the question's position and its 16 CSV line bodies, one per
    `selected_mask` (index mask + 1), each `question_id,question_text,selected_answers,`.

    The selected-answers text of mask m is `concat_ws('; ', ...)` of the answer texts
    at the positions of m's bits (a position without an answer adds nothing), as the
    Python writer joins the chosen texts. Keyed by `question_id` only, so PostgreSQL
    computes it once per question and caches it (Memoize) for every other row.
    """
    texts = (
        select(
            *(
                func.max(Answer.text)
                .filter(Answer.position == literal_column(str(p)))
                .label(f"a{p}")
                for p in range(MAX_ANSWERS)
            )
        )
        .where(Answer.question_id == Question.id)
        .lateral("texts")
    )
    question_cell = (
        select(_joined(Question.id, _csv_field(Question.text)).label("cell"))
        .correlate(Question)
        .offset(_ZERO)  # computed once, not once per mask
        .lateral("question_cell")
    )
    lines = [
        _joined(
            question_cell.c.cell,
            _csv_field(
                func.concat_ws(
                    _sql_literal(writers.SELECTED_SEPARATOR),
                    *(texts.c[f"a{p}"] for p in range(MAX_ANSWERS) if mask >> p & 1),
                )
            )
            if mask
            else literal_column("''"),
        ).op("||")(literal_column("','"))
        for mask in range(1 << MAX_ANSWERS)
    ]
    return (
        select(Question.position, array(lines).label("lines"))
        .select_from(Question)
        .join(texts, true())
        .join(question_cell, true())
        .where(Question.id == question_id)
        .offset(_ZERO)
        .lateral("q")
    )


def copy_params(filters: ExportFilters) -> dict[str, Any]:
    """The values bound into `csv_copy_statement`, by name: only the filters given."""
    values = {
        "start": filters.dates.start,
        "end": filters.dates.end,
        "user_id": filters.user_id,
        "company_id": filters.company_id,
        "quiz_id": filters.quiz_id,
    }
    return {name: value for name, value in values.items() if value is not None}


@functools.lru_cache(maxsize=32)
def csv_copy_statement(filters: frozenset[str]) -> Select[Any]:
    """The CSV of `export_statement`, one text per attempt: its lines with CRLF, as
    `writers.csv_rows` writes them (the header row is not included).

    `filters` names the `copy_params` given (the WHERE of `attempt_filters`, with
    named parameters), so that one statement, built and compiled once, serves every
    export with the same kind of filter.

    The attempts are sorted first (only their ids, dates and keys), then each one's
    answer rows are read by a LATERAL index scan (a nested loop keeps the attempts'
    order, so nothing but the few rows of one attempt is ever sorted again) and
    aggregated in question order. `OFFSET 0` keeps each subquery as it is written:
    PostgreSQL may otherwise flatten it into a plan that sorts every answer row.
    """
    where = {
        "start": Attempt.completed_at >= bindparam("start", type_=UTCDateTime()),
        "end": Attempt.completed_at < bindparam("end", type_=UTCDateTime()),
        "user_id": Attempt.user_id == bindparam("user_id", type_=Integer()),
        "company_id": Attempt.company_id == bindparam("company_id", type_=Integer()),
        "quiz_id": Attempt.quiz_id == bindparam("quiz_id", type_=Integer()),
    }
    ordered = (
        select(
            Attempt.id,
            Attempt.completed_at,
            Attempt.user_id,
            Attempt.company_id,
            Attempt.quiz_id,
        )
        .where(*(clause for name, clause in where.items() if name in filters))
        .order_by(Attempt.completed_at, Attempt.id)
        .offset(_ZERO)
        .subquery("s")
    )
    email = (
        select(_csv_field(User.email).label("cell"))
        .where(User.id == ordered.c.user_id)
        .offset(_ZERO)
        .lateral("email")
    )
    title = (
        select(_csv_field(Quiz.title).label("cell"))
        .where(Quiz.id == ordered.c.quiz_id)
        .offset(_ZERO)
        .lateral("title")
    )
    prefix = _joined(
        ordered.c.id,
        _iso_utc(ordered.c.completed_at),
        ordered.c.user_id,
        email.c.cell,
        ordered.c.company_id,
        ordered.c.quiz_id,
        title.c.cell,
    ).op("||")(literal_column("','"))
    attempts = (
        select(ordered.c.id, ordered.c.completed_at, prefix.label("prefix"))
        .select_from(ordered)
        .join(email, true())
        .join(title, true())
        # prefix too: the GROUP BY below then finds its input already in order
        .order_by(ordered.c.completed_at, ordered.c.id, literal_column("prefix"))
        .offset(_ZERO)
        .subquery("a")
    )
    answers = (
        select(AttemptAnswer.question_id, AttemptAnswer.selected_mask, AttemptAnswer.is_correct)
        .where(AttemptAnswer.attempt_id == attempts.c.id)
        .offset(_ZERO)
        .lateral("aa")
    )
    question = _question_lines(answers.c.question_id)
    line = type_coerce(question.c.lines, ARRAY(Text))[
        answers.c.selected_mask + literal_column("1")
    ].op("||")(
        case(
            (answers.c.is_correct, _sql_literal("true\r\n")),
            else_=_sql_literal("false\r\n"),
        )
    )
    # prefix, then the lines in question order with the prefix between them
    body = func.string_agg(line, aggregate_order_by(attempts.c.prefix, question.c.position))
    return (
        select(attempts.c.prefix.op("||")(body).label("csv"))
        .select_from(attempts)
        .join(answers, true())
        .join(question, true())
        .group_by(attempts.c.completed_at, attempts.c.id, attempts.c.prefix)
        .order_by(attempts.c.completed_at, attempts.c.id)
    )
