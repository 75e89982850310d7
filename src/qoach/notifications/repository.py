"""The SQL of notifications: pages, reads, replay and the set-based reminder insert."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Insert,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.db.types import JSONType, UTCDateTime
from qoach.models import (
    Attempt,
    AuthSession,
    JobRun,
    Membership,
    Notification,
    NotificationKind,
    Quiz,
    User,
)

# Caps the `?since=` replay of one socket; a client further behind pages the REST list.
REPLAY_LIMIT = 1_000


async def list_page(
    session: AsyncSession, user_id: int, *, unread_only: bool, limit: int, offset: int
) -> tuple[list[Notification], int, int]:
    """(items newest first, total matching the filter, unread count of the user)."""
    unread = Notification.is_read.is_(false())
    counts = (
        await session.execute(
            select(
                func.count(Notification.id),
                func.count(case((unread, Notification.id))),
            ).where(Notification.user_id == user_id)
        )
    ).one()
    all_count, unread_count = int(counts[0]), int(counts[1])
    total = unread_count if unread_only else all_count
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(unread)
    stmt = stmt.order_by(Notification.id.desc()).limit(limit).offset(offset)
    items = list((await session.scalars(stmt)).all()) if total > offset else []
    return items, total, unread_count


async def insert_for_users(
    session: AsyncSession,
    user_ids: Sequence[int],
    *,
    company_id: int | None,
    kind: str,
    title: str,
    body: str,
    payload: dict[str, Any],
    created_at: datetime,
) -> list[tuple[int, int]]:
    """One notification per user with the same content, as ONE set-based statement
    (`INSERT … SELECT` over the id list: `unnest` on PostgreSQL, `json_each` on
    SQLite); returns (notification id, user id) pairs, no ORM objects."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        ids = bindparam("user_ids", list(user_ids), type_=postgresql.ARRAY(Integer))
        user_id: ColumnElement[Any] = func.unnest(ids)
        source = select(user_id.label("user_id"))
    else:
        each = func.json_each(literal(json.dumps(list(user_ids)), Text)).table_valued("value")
        source = select(each.c.value.label("user_id")).select_from(each)
    rows = source.add_columns(
        literal(company_id, Integer),
        literal(kind, String),
        literal(title, String),
        literal(body, Text),
        literal(payload, JSONType),
        literal(False, Boolean),
        literal(created_at, UTCDateTime),
    )
    columns = ["user_id", "company_id", "kind", "title", "body", "payload", "is_read", "created_at"]
    table: Table = Notification.__table__  # type: ignore[assignment]
    stmt = insert(table).from_select(columns, rows).returning(table.c.id, table.c.user_id)
    return [(int(row[0]), int(row[1])) for row in (await session.execute(stmt)).all()]


async def get_for_user(
    session: AsyncSession, notification_id: int, user_id: int
) -> Notification | None:
    stmt = select(Notification).where(
        Notification.id == notification_id, Notification.user_id == user_id
    )
    return (await session.scalars(stmt)).one_or_none()


async def mark_all_read(session: AsyncSession, user_id: int, now: datetime) -> list[int]:
    stmt = (
        update(Notification)
        .where(Notification.user_id == user_id, Notification.is_read.is_(false()))
        .values(is_read=True, read_at=now)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    return sorted((await session.scalars(stmt)).all())


async def replay_after(
    session: AsyncSession, user_id: int, since: int, limit: int = REPLAY_LIMIT
) -> list[Notification]:
    """The user's notifications with id > since, oldest first (at most `limit`)."""
    stmt = (
        select(Notification)
        .where(Notification.user_id == user_id, Notification.id > since)
        .order_by(Notification.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def latest_id(session: AsyncSession, user_id: int) -> int:
    """The user's newest notification id (0 when none): where a live stream starts."""
    stmt = select(func.max(Notification.id)).where(Notification.user_id == user_id)
    return int((await session.scalar(stmt)) or 0)


async def login_is_active(session: AsyncSession, user_id: int, session_id: int | None) -> bool:
    """The user still exists and (for our own tokens) that login is not revoked."""
    if session_id is None:
        stmt = select(User.id).where(User.id == user_id)
    else:
        stmt = select(AuthSession.id).where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
        )
    return (await session.execute(stmt)).first() is not None


# --- reminders ----------------------------------------------------------------------


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """`INSERT` with `ON CONFLICT` support for the session's database."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {name!r}")


async def claim_run(session: AsyncSession, job: str, run_key: str) -> bool:
    """Insert the (job, run_key) claim row; False when another run already holds it.

    A concurrent claimer waits on the primary key until the holder's transaction
    ends, then finds the row (DO NOTHING) — or takes over if the holder rolled back.
    """
    stmt = (
        dialect_insert(session, JobRun)
        .values(job=job, run_key=run_key)
        .on_conflict_do_nothing(index_elements=["job", "run_key"])
        .returning(JobRun.job)
    )
    return (await session.execute(stmt)).first() is not None


async def finish_run(session: AsyncSession, job: str, run_key: str, now: datetime) -> None:
    await session.execute(
        update(JobRun)
        .where(JobRun.job == job, JobRun.run_key == run_key)
        .values(finished_at=now)
        .execution_options(synchronize_session=False)
    )


def _completed_recently(dialect: str, now: datetime) -> ColumnElement[bool]:
    """`attempts.completed_at > now - quizzes.frequency_days days`, per dialect."""
    if dialect == "postgresql":
        cutoff = literal(now, UTCDateTime) - Quiz.frequency_days * literal_column(
            "interval '24 hours'"
        )
        return Attempt.completed_at > cutoff
    # SQLite stores naive UTC text; julianday() turns both sides into day numbers.
    now_text = literal(now, UTCDateTime)
    return func.julianday(Attempt.completed_at) > func.julianday(now_text) - Quiz.frequency_days


def _payload(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.jsonb_build_object("quiz_id", Quiz.id)
    return func.json_object("quiz_id", Quiz.id)


def reminder_insert(session: AsyncSession, *, now: datetime, local_date: date) -> Insert:
    """One INSERT … SELECT … ON CONFLICT (dedup_key) DO NOTHING RETURNING for every due
    (member, quiz) pair; the unique dedup_key makes it exactly once per user, quiz and day.
    """
    dialect = session.get_bind().dialect.name
    day = local_date.isoformat()
    completed = exists().where(
        Attempt.user_id == Membership.user_id,
        Attempt.quiz_id == Quiz.id,
        _completed_recently(dialect, now),
    )
    dedup_key = (
        literal("reminder:", String)
        + cast(Membership.user_id, String)
        + literal(":", String)
        + cast(Quiz.id, String)
        + literal(f":{day}", String)
    )
    rows = (
        select(
            Membership.user_id,
            Quiz.company_id,
            literal(NotificationKind.quiz_reminder.value, String),
            literal("Reminder: ", String) + Quiz.title,
            literal("Time to take \u201c", String) + Quiz.title + literal("\u201d.", String),
            _payload(dialect),
            false(),
            dedup_key,
        )
        .join(Quiz, Quiz.company_id == Membership.company_id)
        .where(~completed)
        # one global order: concurrent forced runs take the dedup_key locks in
        # the same order, so they wait on each other instead of deadlocking
        .order_by(Membership.user_id, Quiz.id)
    )
    columns = ["user_id", "company_id", "kind", "title", "body", "payload", "is_read", "dedup_key"]
    stmt: Insert = (
        dialect_insert(session, Notification)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(Notification)
    )
    return stmt


async def insert_due_reminders(
    session: AsyncSession, *, now: datetime, local_date: date
) -> Sequence[Notification]:
    stmt = reminder_insert(session, now=now, local_date=local_date)
    return list((await session.scalars(stmt)).all())
