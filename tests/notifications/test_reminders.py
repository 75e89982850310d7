"""The daily reminder job: who is due, exactly once per user, quiz and day."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.config import Settings
from qoach.models import JobRun, Notification, Quiz, User
from qoach.notifications.scheduler import (
    REMINDER_JOB_ID,
    build_scheduler,
    crontab_trigger,
    run_reminders,
)
from qoach.notifications.tasks import send_due_reminders
from tests.factories import Factory
from tests.notifications.conftest import LiveServer, open_socket, ws_url

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    owner: User
    admin: User
    m1: User
    m2: User
    other_owner: User
    a1: Quiz
    a2: Quiz
    b1: Quiz

    def pairs(self, *names: str) -> set[tuple[int, int]]:
        out = set()
        for name in names:
            user, quiz = name.split("-")
            out.add((getattr(self, user).id, getattr(self, quiz).id))
        return out


async def arrange(factory: Factory, now: datetime = NOW) -> World:
    owner, admin, m1, m2, other_owner = [await factory.user() for _ in range(5)]
    company_a = await factory.company(owner, admins=[admin], members=[m1, m2])
    company_b = await factory.company(other_owner, members=[m1])
    await factory.company(await factory.user())  # a company without quizzes: nobody is due
    a1 = await factory.quiz(company_a, frequency_days=1)
    a2 = await factory.quiz(company_a, frequency_days=7)
    b1 = await factory.quiz(company_b, frequency_days=3)
    await factory.attempt(a1, owner, completed_at=now - timedelta(hours=1))  # fresh
    await factory.attempt(a2, m1, completed_at=now - timedelta(days=3))  # within 7 days
    await factory.attempt(a2, admin, completed_at=now - timedelta(days=7, minutes=1))  # too old
    await factory.attempt(a1, m2, completed_at=now - timedelta(days=2))  # older than 1 day
    await factory.attempt(b1, other_owner, completed_at=now - timedelta(days=4))  # > 3 days
    await factory.attempt(b1, m2, completed_at=now - timedelta(hours=1))  # m2 is not in B
    return World(owner, admin, m1, m2, other_owner, a1, a2, b1)


DUE_NOW = (
    "owner-a2",
    "admin-a1",
    "admin-a2",
    "m1-a1",
    "m1-b1",
    "m2-a1",
    "m2-a2",
    "other_owner-b1",
)


async def reminders(db: AsyncSession) -> list[Notification]:
    rows = list(
        (
            await db.scalars(
                select(Notification).where(Notification.kind == "quiz_reminder").order_by("id")
            )
        ).all()
    )
    await db.commit()
    return rows


def pairs_of(rows: list[Notification]) -> list[tuple[int, int]]:
    return [(row.user_id, row.payload["quiz_id"]) for row in rows]


async def test_three_concurrent_runs_send_each_reminder_once(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI
) -> None:
    world = await arrange(factory)
    maker, broker = clean_app.state.sessionmaker, clean_app.state.broker

    counts = await asyncio.gather(
        *(send_due_reminders(maker, broker, now=NOW, tz=UTC) for _ in range(3))
    )
    assert sorted(counts) == [0, 0, len(DUE_NOW)]  # one run claimed the day
    rows = await reminders(db)
    assert sorted(pairs_of(rows)) == sorted(world.pairs(*DUE_NOW))
    row = rows[0]
    assert row.dedup_key == f"reminder:{row.user_id}:{row.payload['quiz_id']}:2026-12-01"
    quiz_titles = {world.a1.id: world.a1.title, world.a2.id: world.a2.title}
    quiz_titles[world.b1.id] = world.b1.title
    assert all(r.title == f"Reminder: {quiz_titles[r.payload['quiz_id']]}" for r in rows)
    assert all(
        r.company_id
        == (world.b1.company_id if r.payload["quiz_id"] == world.b1.id else world.a1.company_id)
        for r in rows
    )
    run = await db.scalar(select(JobRun).where(JobRun.job == "quiz_reminders"))
    await db.commit()
    assert run is not None and run.run_key == "2026-12-01" and run.finished_at is not None

    # forced runs skip the claim; the dedup key still forbids a second reminder
    forced = await asyncio.gather(
        *(send_due_reminders(maker, broker, now=NOW, tz=UTC, force=True) for _ in range(3))
    )
    assert forced == [0, 0, 0]
    assert len(await reminders(db)) == len(DUE_NOW)


async def test_concurrent_forced_runs_on_a_fresh_day_still_insert_once(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI
) -> None:
    world = await arrange(factory)
    maker, broker = clean_app.state.sessionmaker, clean_app.state.broker
    counts = await asyncio.gather(
        *(send_due_reminders(maker, broker, now=NOW, tz=UTC, force=True) for _ in range(3))
    )
    assert sum(counts) == len(DUE_NOW)
    assert sorted(pairs_of(await reminders(db))) == sorted(world.pairs(*DUE_NOW))


async def test_the_next_day_brings_new_reminders(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI
) -> None:
    world = await arrange(factory)
    maker, broker = clean_app.state.sessionmaker, clean_app.state.broker
    assert await send_due_reminders(maker, broker, now=NOW, tz=UTC) == len(DUE_NOW)

    tomorrow = NOW + timedelta(days=1)
    # the owner's attempt on a1 is now 25 hours old; m1's on a2 (4 days) still counts
    due_tomorrow = (*DUE_NOW, "owner-a1")
    counts = await asyncio.gather(
        *(send_due_reminders(maker, broker, now=tomorrow, tz=UTC) for _ in range(3))
    )
    assert sorted(counts) == [0, 0, len(due_tomorrow)]
    rows = await reminders(db)
    new = [r for r in rows if r.dedup_key and r.dedup_key.endswith("2026-12-02")]
    assert sorted(pairs_of(new)) == sorted(world.pairs(*due_tomorrow))
    assert len(rows) == len(DUE_NOW) + len(due_tomorrow)


async def test_the_day_is_the_local_day_of_the_reminder_timezone(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI
) -> None:
    world = await arrange(factory)
    maker, broker = clean_app.state.sessionmaker, clean_app.state.broker
    tokyo = ZoneInfo("Asia/Tokyo")
    evening = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # 05:00 on Dec 2 in Tokyo
    created = await send_due_reminders(maker, broker, now=evening, tz=tokyo)
    assert created > 0
    keys = {r.dedup_key for r in await reminders(db)}
    assert f"reminder:{world.m1.id}:{world.a1.id}:2026-12-02" in keys
    # later the same Tokyo day: nothing new, even forced
    later = evening + timedelta(hours=2)
    assert await send_due_reminders(maker, broker, now=later, tz="Asia/Tokyo", force=True) == 0


async def test_one_set_based_statement_whatever_the_number_of_members(
    client: AsyncClient, factory: Factory, clean_app: FastAPI, count_statements
) -> None:
    maker, broker = clean_app.state.sessionmaker, clean_app.state.broker
    company = await factory.company()
    await factory.quiz(company)
    await factory.quiz(company)
    with count_statements as small:
        assert await send_due_reminders(maker, broker, now=NOW, tz=UTC) == 2
    for _ in range(15):
        await factory.member(company)
    with count_statements as large:
        created = await send_due_reminders(maker, broker, now=NOW + timedelta(days=1), tz=UTC)
    assert created == 32
    assert small.count == large.count == 3  # claim, INSERT … SELECT, finish


async def test_reminders_are_pushed_to_sockets(
    live_server: LiveServer, client: AsyncClient, factory: Factory, clean_app: FastAPI
) -> None:
    world = await arrange(factory)
    access, _, _ = await factory.tokens(world.m1)
    async with open_socket(ws_url(live_server.ws_url, access)) as sock:
        await send_due_reminders(
            clean_app.state.sessionmaker, clean_app.state.broker, now=NOW, tz=UTC
        )
        pushed = await sock.notifications(2)
    assert {n["kind"] for n in pushed} == {"quiz_reminder"}
    assert {n["payload"]["quiz_id"] for n in pushed} == {world.a1.id, world.b1.id}


async def test_scheduler_job_runs_on_the_configured_cron(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI
) -> None:
    settings: Settings = clean_app.state.settings
    custom = settings.model_copy(
        update={"reminder_cron": "30 6 * * 1-5", "reminder_timezone": "Europe/Paris"}
    )
    probe = FastAPI()
    probe.state.settings = custom
    scheduler = build_scheduler(probe)
    job = scheduler.get_job(REMINDER_JOB_ID)
    assert job is not None
    fire = job.trigger.get_next_fire_time(None, datetime(2026, 12, 5, 12, 0, tzinfo=UTC))  # Sat
    assert fire == datetime(2026, 12, 7, 6, 30, tzinfo=ZoneInfo("Europe/Paris"))  # Monday

    # the job itself: today's reminders, with the app's own sessions and broker
    world = await arrange(factory, now=datetime.now(UTC))
    assert await run_reminders(clean_app) == 8
    assert len(await reminders(db)) == 8
    assert world.owner.id  # arranged


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 0 * * *", datetime(2026, 12, 5, 12, 0), datetime(2026, 12, 6, 0, 0)),
        ("0 0 * * 0", datetime(2026, 12, 1, 12, 0), datetime(2026, 12, 6, 0, 0)),  # Sunday
        ("0 0 * * 7", datetime(2026, 12, 1, 12, 0), datetime(2026, 12, 6, 0, 0)),  # Sunday
        ("15 8 * * 1-5", datetime(2026, 12, 4, 9, 0), datetime(2026, 12, 7, 8, 15)),  # Fri→Mon
        ("0 0 * * 6-7", datetime(2026, 12, 1, 0, 0), datetime(2026, 12, 5, 0, 0)),  # Saturday
        ("0 0 * * mon", datetime(2026, 12, 1, 0, 0), datetime(2026, 12, 7, 0, 0)),
    ],
)
def test_reminder_cron_uses_crontab_weekdays(
    expression: str, after: datetime, expected: datetime
) -> None:
    trigger = crontab_trigger(expression, UTC)
    fire = trigger.get_next_fire_time(None, after.replace(tzinfo=UTC))
    assert fire == expected.replace(tzinfo=UTC)


def test_reminder_cron_rejects_nonsense() -> None:
    for expression in ("0 0 * *", "0 0 * * 9", "0 0 * * 5-1", "61 0 * * *"):
        with pytest.raises(ValueError):
            crontab_trigger(expression, UTC)


async def test_scheduler_starts_and_stops_with_the_app(
    migrated_database: str, settings: Settings
) -> None:
    from qoach.main import create_app

    enabled = create_app(settings.model_copy(update={"scheduler_enabled": True}))
    async with LifespanManager(enabled):
        scheduler = enabled.state.scheduler
        assert scheduler is not None and scheduler.running
        assert scheduler.get_job(REMINDER_JOB_ID).next_run_time is not None
    assert enabled.state.scheduler is None and not scheduler.running

    disabled = create_app(settings.model_copy(update={"scheduler_enabled": False}))
    async with LifespanManager(disabled):
        assert disabled.state.scheduler is None


async def _cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qoach.cli",
        *args,
        cwd=ROOT,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode()


@pytest.mark.slow
async def test_three_cli_processes_send_each_reminder_once(
    client: AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    """`qoach reminders run --force` in three processes at once, on today's date."""
    world = await arrange(factory, now=datetime.now(UTC))
    results = await asyncio.gather(*(_cli("reminders", "run", "--force") for _ in range(3)))
    assert all(code == 0 for code, _ in results), results
    created = [int(out.strip().splitlines()[-1].split()[0]) for _, out in results]
    assert sum(created) == len(DUE_NOW), results
    assert sorted(pairs_of(await reminders(db))) == sorted(world.pairs(*DUE_NOW))

    # without --force: the day is claimed (forced runs record the claim too)
    code, out = await _cli("reminders", "run")
    assert code == 0 and out.strip().endswith("0 reminder(s) created"), out
