"""The in-process scheduler that fires the daily reminder job.

Every instance may run it (SCHEDULER_ENABLED, default on): the job's claim row and
the reminders' unique dedup keys make the work happen once per day in total. It
starts inside the app's lifespan through the notifications router (FastAPI merges
an included router's lifespan into the app's), after the engine and broker exist.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from qoach.config import Settings
from qoach.notifications.tasks import send_due_reminders

logger = logging.getLogger("qoach.notifications.scheduler")

REMINDER_JOB_ID = "quiz_reminders"


async def run_reminders(app: Any) -> int:
    settings: Settings = app.state.settings
    try:
        return await send_due_reminders(
            app.state.sessionmaker,
            app.state.broker,
            now=datetime.now(UTC),
            tz=ZoneInfo(settings.reminder_timezone),
        )
    except Exception:
        logger.exception("quiz reminder run failed")
        return 0


_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_weekday(token: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    if token[:3] in _CRON_WEEKDAYS:
        return _CRON_WEEKDAYS.index(token[:3])
    raise ValueError(f"bad day of week {token!r} in REMINDER_CRON")


def _weekdays_as_names(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) as APScheduler weekday names."""
    if field.strip() in {"*", "?"}:
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in day of week {item!r} in REMINDER_CRON")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            first_text, last_text = span.split("-", 1)
            first, last = _cron_weekday(first_text), _cron_weekday(last_text)
            if last_text.strip() == "7":
                last = 7
        else:
            first = last = _cron_weekday(span)
        if step_text and "-" not in span and span != "*":
            last = 6
        days.update(day % 7 for day in range(first, last + 1, step))
    if not days:
        raise ValueError(f"empty day of week {field!r} in REMINDER_CRON")
    return ",".join(_CRON_WEEKDAYS[day] for day in sorted(days))


def crontab_trigger(expression: str, timezone: tzinfo) -> CronTrigger:
    """`CronTrigger.from_crontab`, with the crontab's weekday numbers.

    APScheduler 3 numbers weekdays from 0 = Monday, crontab from 0 = Sunday; passing
    names sidesteps it, so `0 0 * * 1-5` means Monday to Friday as in cron.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"REMINDER_CRON needs 5 fields, got {expression!r}")
    fields[4] = _weekdays_as_names(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)


def build_scheduler(app: Any) -> AsyncIOScheduler:
    settings: Settings = app.state.settings
    zone = ZoneInfo(settings.reminder_timezone)
    scheduler = AsyncIOScheduler(timezone=zone)
    scheduler.add_job(
        run_reminders,
        crontab_trigger(settings.reminder_cron, zone),
        args=[app],
        id=REMINDER_JOB_ID,
        name="daily quiz reminders",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,  # a busy or briefly paused process still sends them
        replace_existing=True,
    )
    return scheduler


async def start(app: Any) -> None:
    settings: Settings = app.state.settings
    if not settings.scheduler_enabled:
        app.state.scheduler = None
        return
    scheduler = build_scheduler(app)
    scheduler.start()
    app.state.scheduler = scheduler
    job = scheduler.get_job(REMINDER_JOB_ID)
    logger.info(
        "reminder scheduler started (%s %s), next run %s",
        settings.reminder_cron,
        settings.reminder_timezone,
        job.next_run_time if job else None,
    )


async def stop(app: Any) -> None:
    scheduler: AsyncIOScheduler | None = getattr(app.state, "scheduler", None)
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=False)
    app.state.scheduler = None


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    await start(app)
    try:
        yield
    finally:
        await stop(app)
