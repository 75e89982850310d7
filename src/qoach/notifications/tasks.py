"""The daily quiz reminder: exactly once per user, quiz and local day.

Two guards, both in the database:
- the claim row `job_runs(job="quiz_reminders", run_key=<local date>)`, inserted
  with ON CONFLICT DO NOTHING in the same transaction as the work, so of several
  instances firing at once only one does it (the others wait on the key, then see
  it taken); a run that fails rolls its claim back with it;
- the unique `notifications.dedup_key = reminder:<user>:<quiz>:<local date>`, so
  even a forced run (`qoach reminders run --force`) or a race that passed the
  claim cannot create a second reminder for the same user, quiz and day.

Who is due is one set-based INSERT … SELECT over memberships × quizzes of the
same company, minus the pairs with an attempt completed within the quiz's
`frequency_days` before `now`. Rows are published after the commit.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qoach.broker import Broker
from qoach.db.types import utcnow
from qoach.models import Notification
from qoach.notifications import repository
from qoach.notifications.events import publish_notifications

logger = logging.getLogger("qoach.notifications.reminders")

JOB_NAME = "quiz_reminders"
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def local_date(now: datetime, tz: tzinfo | str) -> date:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return now.astimezone(zone).date()


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in _RETRYABLE_SQLSTATES


async def _run_once(
    sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime, day: date, force: bool
) -> list[Notification] | None:
    """Insert the due reminders in one transaction; None when another run holds the day."""
    async with sessionmaker() as session:
        claimed = await repository.claim_run(session, JOB_NAME, day.isoformat())
        if not claimed and not force:
            await session.rollback()
            return None
        rows = list(await repository.insert_due_reminders(session, now=now, local_date=day))
        await repository.finish_run(session, JOB_NAME, day.isoformat(), utcnow())
        await session.commit()
        return rows


async def send_due_reminders(
    sessionmaker: async_sessionmaker[AsyncSession],
    broker: Broker,
    *,
    now: datetime,
    tz: tzinfo | str,
    force: bool = False,
) -> int:
    """Create today's due `quiz_reminder` notifications; return how many were created.

    `now` (aware) decides both the local day (in `tz`) and the completion window.
    Without `force` the run is skipped (0) when that day was already claimed.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    day = local_date(now, tz)
    for attempt in range(3):
        try:
            rows = await _run_once(sessionmaker, now=now, day=day, force=force)
            break
        except DBAPIError as exc:
            if attempt == 2 or not _retryable(exc):
                raise
            logger.info("reminder run conflicted with another (%s); retrying", exc.orig)
            await asyncio.sleep(0.05 * (attempt + 1))
    if rows is None:
        logger.info("reminders for %s already sent by another run", day)
        return 0
    await publish_notifications(broker, rows)
    logger.info("sent %d quiz reminders for %s", len(rows), day)
    return len(rows)
