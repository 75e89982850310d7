"""Aggregate SQL for analytics: grouped sums, never attempt rows.

Every query returns integer sums (Σ correct_count, Σ question_count, counts);
the service divides, so averages are exact and identical on both databases.

Company-wide figures (totals, member and quiz breakdowns, leaderboard, last
attempts, company and quiz timelines) and item analysis read the rollup tables
(`qoach.models.stats`) for the whole periods of the range and the attempts
themselves only for the days at its edges (`qoach.analytics.periods`); the two
parts are added in one query. Figures about one user read that user's attempts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import (
    Date,
    Float,
    FromClause,
    Row,
    Select,
    Subquery,
    Table,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import ColumnElement

from qoach.analytics import periods
from qoach.analytics.schemas import Bucket
from qoach.dates import DateRange
from qoach.db.types import UTCDateTime
from qoach.models import (
    Answer,
    Attempt,
    AttemptAnswer,
    Membership,
    Question,
    Quiz,
    QuizVersion,
    StatsCompany,
    StatsItem,
    StatsMember,
    StatsQuiz,
    StatsScore,
)
from qoach.models import User as UserModel
from qoach.models.stats import Grain
from qoach.pagination import PageParams

AnyRow: TypeAlias = Row[*tuple[Any, ...]]

MAX_ANSWERS = 4  # answers.position is 0–3 (check constraint), one bit each in selected_mask


@dataclass(frozen=True, slots=True)
class Sums:
    """Σ correct_count, Σ question_count, attempts and the latest completion of a group."""

    correct: int = 0
    questions: int = 0
    attempts: int = 0
    last_at: datetime | None = None

    def __add__(self, other: Sums) -> Sums:
        lasts = [t for t in (self.last_at, other.last_at) if t is not None]
        return Sums(
            correct=self.correct + other.correct,
            questions=self.questions + other.questions,
            attempts=self.attempts + other.attempts,
            last_at=max(lasts) if lasts else None,
        )


def attempt_filters(
    dates: DateRange,
    *,
    user_id: int | None = None,
    company_id: int | None = None,
    quiz_id: int | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses on attempts: `start <= completed_at < end` and the optional ids."""
    clauses: list[ColumnElement[bool]] = []
    if dates.start is not None:
        clauses.append(Attempt.completed_at >= dates.start)
    if dates.end is not None:
        clauses.append(Attempt.completed_at < dates.end)
    if user_id is not None:
        clauses.append(Attempt.user_id == user_id)
    if company_id is not None:
        clauses.append(Attempt.company_id == company_id)
    if quiz_id is not None:
        clauses.append(Attempt.quiz_id == quiz_id)
    return clauses


def bucket_start(column: Any, bucket: Bucket, dialect: str) -> ColumnElement[date]:
    """The first day (UTC) of the day / ISO week / month holding `column`.

    Constants are literal SQL (from a fixed set), not bound parameters, so the
    expression in SELECT and GROUP BY compiles to the same text on PostgreSQL.
    """
    if dialect == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), column)  # timestamptz → UTC timestamp
        return cast(func.date_trunc(literal_column(f"'{bucket.value}'"), utc), Date)
    # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS.ffffff'; date() reads it directly
    modifiers = {
        Bucket.day: (),
        # back 6 days, then forward to the next Monday (or stay on it): that week's Monday
        Bucket.week: ("'-6 days'", "'weekday 1'"),
        Bucket.month: ("'start of month'",),
    }[bucket]
    return type_coerce(func.date(column, *map(literal_column, modifiers)), Date)


def _sums_columns() -> tuple[Any, ...]:
    return (
        func.sum(Attempt.correct_count).label("correct"),
        func.sum(Attempt.question_count).label("questions"),
        func.count(Attempt.id).label("attempts"),
        func.max(Attempt.completed_at).label("last_at"),
    )


def _grouped(key: Any, filters: Sequence[ColumnElement[bool]]) -> Subquery:
    """Attempts matching `filters`, summed per `key` (labelled `key`)."""
    return (
        select(key.label("key"), *_sums_columns()).where(*filters).group_by(key).subquery("stats")
    )


def _spans_clause(table: FromClause, spans: Sequence[periods.Span]) -> ColumnElement[bool]:
    clauses = []
    for span in spans:
        parts = [table.c.grain == span.grain.value]
        if span.first is not None:
            parts.append(table.c.period_start >= span.first)
        if span.stop is not None:
            parts.append(table.c.period_start < span.stop)
        clauses.append(and_(*parts))
    return or_(*clauses)


def _raw_clause(raw: Sequence[tuple[datetime | None, datetime | None]]) -> ColumnElement[bool]:
    return or_(*(and_(*attempt_filters(DateRange(start=a, end=b))) for a, b in raw))


@dataclass(frozen=True, slots=True)
class _Rollup:
    """Where one kind of sums lives: a rollup table and the matching attempt columns."""

    model: Any  # a stats model class
    finest: Grain
    key: str | None  # the grouping column, the same name in the table and `attempts`

    @property
    def table(self) -> Table:
        table: Table = self.model.__table__
        return table


COMPANY = _Rollup(StatsCompany, Grain.day, None)
MEMBERS = _Rollup(StatsMember, Grain.month, "user_id")
QUIZZES = _Rollup(StatsQuiz, Grain.month, "quiz_id")


def _scope(table: FromClause, scope: dict[str, int]) -> list[ColumnElement[bool]]:
    return [table.c[name] == value for name, value in scope.items()]


def _rollup_parts(
    rollup: _Rollup,
    dates: DateRange,
    scope: dict[str, int],
    *,
    coarsest: Grain = Grain.year,
    dialect: str,
    period: bool = False,
) -> Subquery:
    """Rows (key?, period?, correct, questions, attempts, last_at) whose sums are the range's.

    Rollup rows for the whole periods, attempt rows for the edges; `period` adds
    each row's day or period start (for timelines).
    """
    plan = periods.plan(dates.start, dates.end, rollup.finest, coarsest)
    table = rollup.table
    attempts = Attempt.__table__
    parts: list[Select[Any]] = []
    if plan.spans:
        columns: list[Any] = [] if rollup.key is None else [table.c[rollup.key].label("key")]
        if period:
            columns.append(table.c.period_start.label("period"))
        last_at = table.c.last_at if "last_at" in table.c else type_coerce(null(), UTCDateTime)
        columns += [
            table.c.correct,
            table.c.questions,
            table.c.attempts,
            last_at.label("last_at"),
        ]
        parts.append(
            select(*columns).where(*_scope(table, scope), _spans_clause(table, plan.spans))
        )
    if plan.raw or not parts:
        columns = [] if rollup.key is None else [attempts.c[rollup.key].label("key")]
        if period:
            columns.append(bucket_start(Attempt.completed_at, Bucket.day, dialect).label("period"))
        columns += [
            Attempt.correct_count.label("correct"),
            Attempt.question_count.label("questions"),
            literal(1).label("attempts"),
            Attempt.completed_at.label("last_at"),
        ]
        # one branch per slice: each is a range scan of the (covering) index, where an
        # OR of ranges would be a bitmap scan reading the table
        for where in [and_(*attempt_filters(DateRange(a, b))) for a, b in plan.raw] or [false()]:
            parts.append(select(*columns).where(*_scope(attempts, scope), where))
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("rows")


async def _core(session: AsyncSession, stmt: Executable) -> CursorResult[Any]:
    """Run a Core statement on the session's connection (plain rows, no ORM loading)."""
    return await (await session.connection()).execute(stmt)


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def rollup_grouped(
    rollup: _Rollup, dates: DateRange, scope: dict[str, int], dialect: str
) -> Subquery:
    """Sums per key over the range, shaped like `_grouped` (key, correct, questions, …)."""
    rows = _rollup_parts(rollup, dates, scope, dialect=dialect)
    return (
        select(
            rows.c.key.label("key"),
            func.sum(rows.c.correct).label("correct"),
            func.sum(rows.c.questions).label("questions"),
            func.sum(rows.c.attempts).label("attempts"),
            func.max(rows.c.last_at).label("last_at"),
        )
        .group_by(rows.c.key)
        .having(func.sum(rows.c.attempts) > 0)
        .subquery("stats")
    )


def sums_of(row: AnyRow | None) -> Sums:
    """Sums from a row with correct / questions / attempts (/ last_at); zeros for NULLs."""
    if row is None:
        return Sums()
    return Sums(
        correct=int(row.correct or 0),
        questions=int(row.questions or 0),
        attempts=int(row.attempts or 0),
        last_at=getattr(row, "last_at", None),
    )


async def company_totals(session: AsyncSession, company_id: int, dates: DateRange) -> Sums:
    rows = _rollup_parts(COMPANY, dates, {"company_id": company_id}, dialect=dialect_of(session))
    stmt = select(
        func.sum(rows.c.correct).label("correct"),
        func.sum(rows.c.questions).label("questions"),
        func.sum(rows.c.attempts).label("attempts"),
    )
    return sums_of((await _core(session, stmt)).one())


async def per_quiz_attempted(
    session: AsyncSession, filters: Sequence[ColumnElement[bool]]
) -> Sequence[AnyRow]:
    """(quiz_id, quiz_title, company_id, sums…) for each quiz with attempts, by quiz id."""
    stats = _grouped(Attempt.quiz_id, filters)
    stmt = (
        select(
            Quiz.id.label("quiz_id"),
            Quiz.title.label("quiz_title"),
            Quiz.company_id,
            stats.c.correct,
            stats.c.questions,
            stats.c.attempts,
            stats.c.last_at,
        )
        .join(stats, stats.c.key == Quiz.id)
        .order_by(Quiz.id)
    )
    return (await _core(session, stmt)).all()


def member_quiz_stats(company_id: int, user_id: int, dates: DateRange) -> Subquery:
    """One member's sums per quiz of the company (from their attempts)."""
    return _grouped(Attempt.quiz_id, attempt_filters(dates, company_id=company_id, user_id=user_id))


def company_quiz_stats(session: AsyncSession, company_id: int, dates: DateRange) -> Subquery:
    """Sums per quiz of the company over everyone's attempts (from the rollups)."""
    return rollup_grouped(QUIZZES, dates, {"company_id": company_id}, dialect_of(session))


async def per_company_quiz(
    session: AsyncSession, company_id: int, stats: Subquery
) -> Sequence[AnyRow]:
    """Every quiz of the company, outer-joined to `stats` (NULL sums without attempts)."""
    stmt = (
        select(
            Quiz.id.label("quiz_id"),
            Quiz.title.label("quiz_title"),
            stats.c.correct,
            stats.c.questions,
            stats.c.attempts,
            stats.c.last_at,
        )
        .outerjoin(stats, stats.c.key == Quiz.id)
        .where(Quiz.company_id == company_id)
        .order_by(Quiz.id)
    )
    return (await _core(session, stmt)).all()


def _member_stats(session: AsyncSession, company_id: int, dates: DateRange) -> Subquery:
    return rollup_grouped(MEMBERS, dates, {"company_id": company_id}, dialect_of(session))


async def per_member(session: AsyncSession, company_id: int, dates: DateRange) -> Sequence[AnyRow]:
    """Every current member, outer-joined to their sums in the company."""
    stats = _member_stats(session, company_id, dates)
    stmt = (
        select(
            Membership.user_id,
            stats.c.correct,
            stats.c.questions,
            stats.c.attempts,
            stats.c.last_at,
        )
        .outerjoin(stats, stats.c.key == Membership.user_id)
        .where(Membership.company_id == company_id)
        .order_by(Membership.user_id)
    )
    return (await _core(session, stmt)).all()


# --- the company dashboard as JSON text, built by PostgreSQL -------------------------
#
# A large company has thousands of members: turning each row into Python objects and
# back into JSON costs far more than the query. On PostgreSQL the breakdown arrays are
# written by the database as JSON text, in exactly the form the Python path produces
# (`CompanyAnalytics`: averages with a decimal point, times as `…THH:MM:SS[.ffffff]Z`).


def _text(sql: str) -> ColumnElement[str]:
    return literal_column(sql, Text)


def _json_ratio(correct: Any, questions: Any, attempts: Any) -> ColumnElement[str]:
    """Σ correct / Σ questions as a JSON number (`0.0` / `1.0` at the ends), or `null`.

    float8 → text is the shortest exact form (PostgreSQL ≥ 12 with the default
    `extra_float_digits`), the digits Python prints.
    """
    return case(
        (or_(attempts.is_(None), attempts == 0, questions == 0), _text("'null'")),
        (correct == 0, _text("'0.0'")),
        (correct == questions, _text("'1.0'")),
        else_=cast(cast(correct, Float) / questions, Text),
    )


def _json_time(column: Any) -> ColumnElement[str]:
    """A UTC timestamp as a JSON string like pydantic's (`Z`, microseconds only if any).

    One `to_char` with microseconds, then `.000000` dropped: `to_char` is the costly part.
    """
    utc = func.timezone(_text("'UTC'"), column)
    # a backslash-quote in the pattern prints `"`; "T" and "Z" are literal text
    text = func.to_char(utc, _text(r"""'\"YYYY-MM-DD"T"HH24:MI:SS.US"Z"\"'"""))
    dropped = func.replace(text, _text("""'.000000Z"'"""), _text("""'Z"'"""))
    return func.coalesce(dropped, _text("'null'"))


def _json_object(**fields: ColumnElement[Any]) -> ColumnElement[str]:
    """`{"name":value,…}` from SQL expressions that already are JSON text (never NULL).

    One `concat` (one allocation per row) rather than a chain of `||`.
    """
    pieces: list[ColumnElement[Any]] = []
    for index, (name, value) in enumerate(fields.items()):
        pieces += [_text("'" + ("{" if index == 0 else ",") + f'"{name}":' + "'"), value]
    return func.concat(*pieces, _text("'}'"))


def _json_array(element: ColumnElement[str], order: Any) -> Any:
    """`element` of every row, comma-separated in `order` (without the brackets)."""
    aggregated = func.string_agg(element, _text("','")).aggregate_order_by(order)
    return func.coalesce(aggregated, _text("''"))


def _json_int(column: Any) -> ColumnElement[str]:
    return cast(func.coalesce(column, 0), Text)


async def company_analytics_json(
    session: AsyncSession, company_id: int, dates: DateRange
) -> tuple[Sums, str, str]:
    """PostgreSQL: (company totals, members JSON, quizzes JSON) in one statement.

    The two texts are the comma-separated elements of `CompanyAnalytics.members` and
    `.quizzes`, in user id / quiz id order.
    """
    dialect = dialect_of(session)
    totals = _rollup_parts(COMPANY, dates, {"company_id": company_id}, dialect=dialect)
    members = _member_stats(session, company_id, dates)
    member = _json_object(
        user_id=cast(Membership.user_id, Text),
        average_score=_json_ratio(members.c.correct, members.c.questions, members.c.attempts),
        attempts=_json_int(members.c.attempts),
        last_attempt_at=_json_time(members.c.last_at),
    )
    members_json = (
        select(_json_array(member, Membership.user_id))
        .select_from(Membership)
        .outerjoin(members, members.c.key == Membership.user_id)
        .where(Membership.company_id == company_id)
    )
    quizzes = company_quiz_stats(session, company_id, dates)
    quiz = _json_object(
        quiz_id=cast(Quiz.id, Text),
        quiz_title=cast(func.to_json(Quiz.title), Text),
        average_score=_json_ratio(quizzes.c.correct, quizzes.c.questions, quizzes.c.attempts),
        attempts=_json_int(quizzes.c.attempts),
        last_attempt_at=_json_time(quizzes.c.last_at),
    )
    quizzes_json = (
        select(_json_array(quiz, Quiz.id))
        .select_from(Quiz)
        .outerjoin(quizzes, quizzes.c.key == Quiz.id)
        .where(Quiz.company_id == company_id)
    )
    stmt = select(
        func.sum(totals.c.correct),
        func.sum(totals.c.questions),
        func.sum(totals.c.attempts),
        members_json.scalar_subquery(),
        quizzes_json.scalar_subquery(),
    )
    row: Sequence[Any] = (await _core(session, stmt)).one()
    correct, questions, attempts, members_text, quizzes_text = row
    sums = Sums(
        correct=int(correct or 0), questions=int(questions or 0), attempts=int(attempts or 0)
    )
    return sums, str(members_text), str(quizzes_text)


# a Monday at 00:00 UTC: `date_bin` from it cuts UTC days and ISO weeks
_BIN_ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"


def _raw_bucket(bucket: Bucket, dialect: str) -> ColumnElement[Any]:
    """The bucket of each attempt, for grouping the attempts themselves.

    PostgreSQL: days and weeks by `date_bin` on the timestamptz (plain arithmetic; a
    bucket's start comes back as a timestamptz), months by `bucket_start`.
    """
    if dialect == "postgresql" and bucket is not Bucket.month:
        width: ColumnElement[Any] = literal_column(
            f"INTERVAL '{7 if bucket is Bucket.week else 1} days'"
        )
        return func.date_bin(width, Attempt.completed_at, literal_column(_BIN_ORIGIN))
    return bucket_start(Attempt.completed_at, bucket, dialect)


def _as_day(value: date | datetime | str) -> date:
    """A period start as read back: a date, an aware datetime (UTC day) or ISO text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _bucket_of(day: date, bucket: Bucket) -> date:
    if bucket is Bucket.week:
        return day - timedelta(days=day.weekday())
    if bucket is Bucket.month:
        return day.replace(day=1)
    return day


async def timeline(
    session: AsyncSession,
    dates: DateRange,
    bucket: Bucket,
    *,
    user_id: int | None = None,
    company_id: int | None = None,
    quiz_id: int | None = None,
) -> list[tuple[date, Sums]]:
    """(bucket_start, sums) per non-empty bucket, ascending.

    A company's timeline reads the company rollup (days, or months for monthly
    buckets); a quiz's monthly timeline reads the quiz rollup; anything about
    one user, and a quiz by day or week, reads the attempts.
    """
    dialect = dialect_of(session)
    coarsest = Grain.month if bucket is Bucket.month else Grain.day
    rows: Subquery | None = None
    if user_id is None and quiz_id is None and company_id is not None:
        rows = _rollup_parts(
            COMPANY,
            dates,
            {"company_id": company_id},
            dialect=dialect,
            coarsest=coarsest,
            period=True,
        )
    elif user_id is None and quiz_id is not None and bucket is Bucket.month:
        scope = {"quiz_id": quiz_id} | ({} if company_id is None else {"company_id": company_id})
        rows = _rollup_parts(QUIZZES, dates, scope, dialect=dialect, coarsest=coarsest, period=True)
    if rows is None:
        filters = attempt_filters(dates, user_id=user_id, quiz_id=quiz_id)
        if company_id is not None and quiz_id is not None:
            # a quiz never changes company, so its attempts are all in its company: one
            # check of the quiz row instead of `attempts.company_id` on every attempt
            # (which the (quiz_id, completed_at) covering index does not hold)
            filters.append(exists().where(Quiz.id == quiz_id, Quiz.company_id == company_id))
        elif company_id is not None:
            filters.append(Attempt.company_id == company_id)
        start = _raw_bucket(bucket, dialect)
        stmt = (
            select(
                start.label("period"),
                func.sum(Attempt.correct_count).label("correct"),
                func.sum(Attempt.question_count).label("questions"),
                func.count().label("attempts"),
            )
            .where(*filters)
            .group_by(start)
        )
    else:
        stmt = select(
            rows.c.period,
            func.sum(rows.c.correct).label("correct"),
            func.sum(rows.c.questions).label("questions"),
            func.sum(rows.c.attempts).label("attempts"),
        ).group_by(rows.c.period)
    buckets: dict[date, Sums] = {}
    for row in (await _core(session, stmt)).all():
        day = _as_day(row.period)
        key = _bucket_of(day, bucket)
        buckets[key] = buckets.get(key, Sums()) + sums_of(row)
    return sorted((key, sums) for key, sums in buckets.items() if sums.attempts)


async def is_member(session: AsyncSession, company_id: int, user_id: int) -> bool:
    stmt = select(Membership.id).where(
        Membership.company_id == company_id, Membership.user_id == user_id
    )
    return (await _core(session, stmt)).first() is not None


async def _page_with_emails(
    session: AsyncSession,
    stmt: Select[Any],
    order: Callable[[FromClause], list[ColumnElement[Any]]],
    page: PageParams,
) -> tuple[Sequence[AnyRow], int]:
    """A page of member rows (`stmt`, with `user_id`) plus each one's email, and the total.

    One query: the page is cut from `stmt` in `order` (a function of the relation, so it
    applies inside and outside) with a window count, and only the page's rows are joined
    to `users` (joining all members first would look up thousands of emails for 50).
    A second query runs only past the end, for the total.
    """
    counted = stmt.add_columns(func.count().over().label("page_total"))
    inner = counted.subquery("ranked")
    ranked = (
        select(inner).order_by(*order(inner)).limit(page.limit).offset(page.offset).subquery("page")
    )
    paged = (
        select(ranked, UserModel.email.label("user_email"))
        .join(UserModel, UserModel.id == ranked.c.user_id)
        .order_by(*order(ranked))
    )
    rows = (await _core(session, paged)).all()
    if rows:
        return rows, int(rows[0].page_total)
    if page.offset == 0:
        return rows, 0
    total = (await _core(session, select(func.count()).select_from(stmt.subquery()))).scalar_one()
    return rows, int(total)


async def last_attempts(
    session: AsyncSession, company_id: int, dates: DateRange, page: PageParams
) -> tuple[Sequence[AnyRow], int]:
    """Members with their latest attempt time (NULL if none), latest first, NULLs last."""
    stats = _member_stats(session, company_id, dates)
    stmt = (
        select(Membership.user_id, stats.c.last_at)
        .outerjoin(stats, stats.c.key == Membership.user_id)
        .where(Membership.company_id == company_id)
    )
    return await _page_with_emails(
        session,
        stmt,
        lambda rel: [rel.c.last_at.desc().nulls_last(), rel.c.user_id],
        page,
    )


async def leaderboard(
    session: AsyncSession, company_id: int, dates: DateRange, page: PageParams
) -> tuple[Sequence[AnyRow], int]:
    """Current members with attempts, by average desc, attempts desc, user id asc."""
    stats = _member_stats(session, company_id, dates)
    stmt = (
        select(
            Membership.user_id,
            stats.c.correct,
            stats.c.questions,
            stats.c.attempts,
        )
        .join(stats, stats.c.key == Membership.user_id)
        .where(Membership.company_id == company_id)
    )
    return await _page_with_emails(
        session,
        stmt,
        lambda rel: [
            (cast(rel.c.correct, Float) / cast(rel.c.questions, Float)).desc(),
            rel.c.attempts.desc(),
            rel.c.user_id,
        ],
        page,
    )


async def quiz_current_version(session: AsyncSession, quiz_id: int) -> AnyRow | None:
    """(Quiz, version id, question count) of the quiz's current version."""
    stmt = (
        select(Quiz, QuizVersion.id.label("version_id"), QuizVersion.question_count)
        .join(
            QuizVersion,
            and_(QuizVersion.quiz_id == Quiz.id, QuizVersion.version == Quiz.version),
        )
        .where(Quiz.id == quiz_id)
    )
    return (await session.execute(stmt)).first()


def _version_plan(dates: DateRange) -> periods.Plan:
    return periods.plan(dates.start, dates.end, Grain.month, Grain.month)


def _raw_version_filters(version_id: int, plan: periods.Plan) -> list[ColumnElement[bool]]:
    return [Attempt.quiz_version_id == version_id, _raw_clause(plan.raw)]


async def score_distribution(
    session: AsyncSession, version_id: int, dates: DateRange
) -> dict[int, int]:
    """correct_count → number of attempts (at most question_count + 1 rows)."""
    plan = _version_plan(dates)
    table = StatsScore.__table__
    parts: list[Select[Any]] = []
    if plan.spans:
        parts.append(
            select(table.c.correct_count, table.c.attempts).where(
                table.c.quiz_version_id == version_id, _spans_clause(table, plan.spans)
            )
        )
    if plan.raw:
        parts.append(
            select(Attempt.correct_count, literal(1).label("attempts")).where(  # type: ignore[arg-type]
                *_raw_version_filters(version_id, plan)
            )
        )
    if not parts:
        return {}
    rows = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("rows")
    stmt = select(rows.c.correct_count, func.sum(rows.c.attempts)).group_by(rows.c.correct_count)
    counts: Sequence[Any] = (await _core(session, stmt)).all()
    return {int(score): int(n) for score, n in counts if n}


async def question_sums(
    session: AsyncSession, version_id: int, dates: DateRange
) -> Sequence[AnyRow]:
    """Per question: Σx, Σ(x·total) and, per answer position p, Σ((mask >> p) & 1)."""
    plan = _version_plan(dates)
    table = StatsItem.__table__
    parts: list[Select[Any]] = []
    if plan.spans:
        parts.append(
            select(
                table.c.question_id,
                table.c.correct,
                table.c.correct_times_total,
                *(table.c[f"chosen_{p}"] for p in range(MAX_ANSWERS)),
            ).where(table.c.quiz_version_id == version_id, _spans_clause(table, plan.spans))
        )
    if plan.raw:
        correct = case((AttemptAnswer.is_correct, 1), else_=0)
        parts.append(
            select(
                AttemptAnswer.question_id,
                correct.label("correct"),
                case((AttemptAnswer.is_correct, Attempt.correct_count), else_=0).label(
                    "correct_times_total"
                ),
                *(
                    AttemptAnswer.selected_mask.bitwise_rshift(p)
                    .bitwise_and(1)
                    .label(f"chosen_{p}")
                    for p in range(MAX_ANSWERS)
                ),
            )
            .join(Attempt, Attempt.id == AttemptAnswer.attempt_id)
            .where(*_raw_version_filters(version_id, plan))
        )
    if not parts:
        return []
    rows = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("rows")
    stmt = select(
        rows.c.question_id,
        func.sum(rows.c.correct).label("correct"),
        func.sum(rows.c.correct_times_total).label("correct_times_total"),
        *(func.sum(rows.c[f"chosen_{p}"]).label(f"chosen_{p}") for p in range(MAX_ANSWERS)),
    ).group_by(rows.c.question_id)
    result: Sequence[AnyRow] = (await _core(session, stmt)).all()
    return result


async def version_questions(session: AsyncSession, version_id: int) -> Sequence[AnyRow]:
    """Questions of the version with their answers, one row per answer, in position order."""
    stmt = (
        select(
            Question.id.label("question_id"),
            Question.text.label("question_text"),
            Answer.id.label("answer_id"),
            Answer.position.label("answer_position"),
            Answer.text.label("answer_text"),
            Answer.is_correct,
        )
        .join(Answer, Answer.question_id == Question.id)
        .where(Question.quiz_version_id == version_id)
        .order_by(Question.position, Answer.position)
    )
    return (await _core(session, stmt)).all()
