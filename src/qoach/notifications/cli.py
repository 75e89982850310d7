"""`qoach reminders run [--force]`: the daily reminder job, once, by hand."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from qoach.config import get_settings


async def _run(force: bool) -> int:
    from qoach.broker import create_broker
    from qoach.db.engine import create_engine, create_sessionmaker
    from qoach.notifications.tasks import send_due_reminders

    settings = get_settings()
    engine = create_engine(settings.database_url, settings, pool=False)
    broker = create_broker(settings)
    try:
        return await send_due_reminders(
            create_sessionmaker(engine),
            broker,
            now=datetime.now(UTC),
            tz=ZoneInfo(settings.reminder_timezone),
            force=force,
        )
    finally:
        await broker.close()
        await engine.dispose()


def cmd_reminders_run(args: argparse.Namespace) -> int:
    created = asyncio.run(_run(args.force))
    print(f"{created} reminder(s) created")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reminders = subparsers.add_parser("reminders", help="quiz reminders")
    actions = reminders.add_subparsers(dest="reminders_command", required=True)
    run = actions.add_parser(
        "run", help="send today's due quiz reminders now (at most once per user, quiz and day)"
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="run even if today's scheduled run already happened (duplicates are still impossible)",
    )
    run.set_defaults(func=cmd_reminders_run)
