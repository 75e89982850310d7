"""The rollup tables give the numbers of API.md's raw definitions, for any range.

A random dataset (attempts spread over three calendar years, several versions,
members who left) is summed in Python straight from the attempt rows — the
definitions of API.md — and compared with every company-wide analytics endpoint
for random `from` / `to` (dates, datetimes inside a day, open ends). The rollup
tables themselves are compared with a rebuild from the attempts after inserts,
after deleting a user and a quiz, and after concurrent submissions.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qoach.analytics import periods, rollups
from qoach.analytics import repository as repo
from qoach.dates import DateRange
from qoach.models import Attempt, AttemptAnswer, Membership, User
from qoach.models.stats import Grain
from tests.factories import Factory

# ----------------------------------------------------------------- periods.plan


def _period_start(moment: datetime, grain: Grain) -> date:
    day = moment.date()
    if grain is Grain.month:
        return day.replace(day=1)
    if grain is Grain.year:
        return day.replace(month=1, day=1)
    return day


def _covers(plan: periods.Plan, moment: datetime) -> int:
    """How many pieces of the plan count `moment`."""
    count = 0
    for span in plan.spans:
        start = _period_start(moment, span.grain)
        if (span.first is None or start >= span.first) and (span.stop is None or start < span.stop):
            count += 1
    for a, b in plan.raw:
        if (a is None or moment >= a) and (b is None or moment < b):
            count += 1
    return count


_BASE = datetime(2025, 12, 20, tzinfo=UTC)
moments = st.integers(0, 800 * 24).map(lambda h: _BASE + timedelta(hours=h / 3))
maybe = st.one_of(st.none(), moments)


@settings(max_examples=300, deadline=None)
@given(
    start=maybe,
    end=maybe,
    finest=st.sampled_from([Grain.day, Grain.month]),
    coarsest=st.sampled_from(list(Grain)),
    probes=st.lists(moments, min_size=20, max_size=20),
)
def test_plan_counts_every_moment_of_the_range_once(start, end, finest, coarsest, probes):
    order = list(Grain)
    if order.index(coarsest) < order.index(finest):
        coarsest = finest
    if start is not None and end is not None and end <= start:
        start, end = end, start + timedelta(hours=1)
    plan = periods.plan(start, end, finest, coarsest)
    for moment in [*probes, *(m for m in (start, end) if m is not None)]:
        inside = (start is None or moment >= start) and (end is None or moment < end)
        assert _covers(plan, moment) == int(inside), (start, end, moment, plan)
    grains = {span.grain for span in plan.spans}
    assert all(order.index(finest) <= order.index(g) <= order.index(coarsest) for g in grains)


def test_plan_uses_whole_years_for_an_open_range():
    plan = periods.plan(None, None, Grain.month)
    assert plan.spans == [periods.Span(Grain.year, None, None)] and plan.raw == []


def test_plan_reads_only_edge_days_raw():
    start = datetime(2026, 1, 10, 12, tzinfo=UTC)
    end = datetime(2027, 3, 5, tzinfo=UTC)
    plan = periods.plan(start, end, Grain.month)
    assert plan.raw == [
        (start, datetime(2026, 1, 11, tzinfo=UTC)),
        (datetime(2026, 1, 11, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
        (datetime(2027, 3, 1, tzinfo=UTC), end),
    ]
    assert plan.spans == [
        periods.Span(Grain.month, date(2026, 2, 1), date(2027, 1, 1)),
        periods.Span(Grain.month, date(2027, 1, 1), date(2027, 3, 1)),
    ]


# ------------------------------------------------------------------ the dataset

QUESTIONS = [
    ("R1", [("a", True), ("b", False), ("c", False)]),
    ("R2", [("a", True), ("b", True), ("c", False), ("d", False)]),
    ("R3", [("a", False), ("b", True)]),
]


@dataclass
class Data:
    company: Any
    other: Any
    owner: User
    members: list[User]
    quizzes: list[Any]


async def _build(factory: Factory, rng: random.Random, attempts: int = 140) -> Data:
    owner = await factory.user()
    members = [await factory.user() for _ in range(6)]
    company = await factory.company(owner, admins=[members[0]], members=members[1:])
    other = await factory.company(members[2])
    quizzes = [await factory.quiz(company, questions=QUESTIONS) for _ in range(3)]
    quizzes.append(await factory.quiz(other, questions=QUESTIONS[:2]))
    await factory.new_version(quizzes[0], QUESTIONS[:2])
    start = datetime(2025, 12, 1, tzinfo=UTC)
    people = [owner, *members]
    for _ in range(attempts):
        quiz = rng.choice(quizzes)
        user = members[2] if quiz is quizzes[3] else rng.choice(people)
        version = rng.choice([1, 2]) if quiz is quizzes[0] else None
        count = 2 if quiz is quizzes[3] or version == 2 else 3
        choices = [rng.sample(range(2), rng.randint(0, 2)) for _ in range(count)]
        moment = start + timedelta(seconds=rng.randrange(0, 430 * 86400))
        if rng.random() < 0.15:  # on a midnight, where a day and a period begin
            moment = datetime.combine(moment.date(), time.min, tzinfo=UTC)
        await factory.attempt(quiz, user, choices=choices, completed_at=moment, version=version)
    # a member who leaves keeps counting in totals but drops out of breakdowns
    await factory.session.execute(
        delete(Membership).where(
            Membership.company_id == company.id, Membership.user_id == members[5].id
        )
    )
    await factory.session.commit()
    return Data(company, other, owner, members, quizzes)


@dataclass
class Row:
    id: int
    company_id: int
    user_id: int
    quiz_id: int
    version_id: int
    correct: int
    questions: int
    at: datetime


async def _attempts(db: AsyncSession) -> list[Row]:
    result = await db.execute(
        select(
            Attempt.id,
            Attempt.company_id,
            Attempt.user_id,
            Attempt.quiz_id,
            Attempt.quiz_version_id,
            Attempt.correct_count,
            Attempt.question_count,
            Attempt.completed_at,
        )
    )
    return [Row(*r) for r in result.all()]


def _range_param(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.2:
        return None
    moment = datetime(2025, 11, 20, tzinfo=UTC) + timedelta(seconds=rng.randrange(480 * 86400))
    if roll < 0.6:
        return moment.date().isoformat()
    if roll < 0.8:
        return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return datetime.combine(moment.date(), time.min).isoformat() + "Z"  # midnight datetime


def _bounds(raw_from: str | None, raw_to: str | None) -> tuple[datetime | None, datetime | None]:
    def parse(value: str, is_end: bool) -> datetime:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
            return moment + timedelta(days=1) if is_end else moment
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment + timedelta(microseconds=1) if is_end else moment

    return (
        parse(raw_from, False) if raw_from else None,
        parse(raw_to, True) if raw_to else None,
    )


def _in(row: Row, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or row.at >= start) and (end is None or row.at < end)


def _avg(c: int, q: int, n: int) -> float | None:
    return c / q if n and q else None


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class Sums:
    def __init__(self) -> None:
        self.c = self.q = self.n = 0
        self.last: datetime | None = None

    def add(self, row: Row) -> None:
        self.c += row.correct
        self.q += row.questions
        self.n += 1
        self.last = max(self.last, row.at) if self.last else row.at


def _expected_company(rows: list[Row], members: list[int], quizzes: list[tuple[int, str]]):
    total = Sums()
    by_user: dict[int, Sums] = defaultdict(Sums)
    by_quiz: dict[int, Sums] = defaultdict(Sums)
    for row in rows:
        total.add(row)
        by_user[row.user_id].add(row)
        by_quiz[row.quiz_id].add(row)
    return {
        "average_score": _avg(total.c, total.q, total.n),
        "attempts": total.n,
        "members": [
            {
                "user_id": uid,
                "average_score": _avg(by_user[uid].c, by_user[uid].q, by_user[uid].n),
                "attempts": by_user[uid].n,
                "last_attempt_at": by_user[uid].last,
            }
            for uid in sorted(members)
        ],
        "quizzes": [
            {
                "quiz_id": qid,
                "quiz_title": title,
                "average_score": _avg(by_quiz[qid].c, by_quiz[qid].q, by_quiz[qid].n),
                "attempts": by_quiz[qid].n,
                "last_attempt_at": by_quiz[qid].last,
            }
            for qid, title in sorted(quizzes)
        ],
    }


def _bucket(day: date, bucket: str) -> date:
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def _expected_timeline(rows: list[Row], bucket: str) -> list[dict[str, Any]]:
    sums: dict[date, Sums] = defaultdict(Sums)
    for row in rows:
        sums[_bucket(row.at.date(), bucket)].add(row)
    return [
        {"bucket_start": day.isoformat(), "average_score": s.c / s.q, "attempts": s.n}
        for day, s in sorted(sums.items())
    ]


async def _get(client: AsyncClient, url: str, headers: dict[str, str], **params: Any) -> Any:
    response = await client.get(
        url, params={k: v for k, v in params.items() if v is not None}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def _with_datetimes(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{**item, key: _when(item[key])} for item in items]


async def test_company_analytics_equal_the_raw_definitions(
    client: AsyncClient, factory: Factory, db: AsyncSession
):
    rng = random.Random(20261130)
    data = await _build(factory, rng)
    company = data.company
    headers = await factory.headers(data.owner)
    all_rows = [r for r in await _attempts(db) if r.company_id == company.id]
    member_ids = [data.owner.id, *(m.id for m in data.members[:5])]
    quizzes = [(q.id, q.title) for q in data.quizzes[:3]]
    base = f"/companies/{company.id}"
    for _ in range(30):
        raw_from, raw_to = _range_param(rng), _range_param(rng)
        start, end = _bounds(raw_from, raw_to)
        if start is not None and end is not None and end <= start:
            raw_from, raw_to = raw_to, raw_from
            start, end = _bounds(raw_from, raw_to)
            if end is None or start is None or end <= start:
                continue
        dates = {"from": raw_from, "to": raw_to}
        rows = [r for r in all_rows if _in(r, start, end)]
        expected = _expected_company(rows, member_ids, quizzes)

        body = await _get(client, f"{base}/analytics", headers, **dates)
        body["members"] = _with_datetimes(body["members"], "last_attempt_at")
        body["quizzes"] = _with_datetimes(body["quizzes"], "last_attempt_at")
        assert body == expected, dates

        ranked = sorted(
            (m for m in expected["members"] if m["attempts"]),
            key=lambda m: (-m["average_score"], -m["attempts"], m["user_id"]),
        )
        board = await _get(client, f"{base}/leaderboard", headers, limit=100, **dates)
        assert board["total"] == len(ranked)
        assert [(i["user_id"], i["average_score"], i["attempts"]) for i in board["items"]] == [
            (m["user_id"], m["average_score"], m["attempts"]) for m in ranked
        ]
        last = await _get(client, f"{base}/analytics/last-attempts", headers, limit=100, **dates)
        latest = sorted(
            expected["members"],
            key=lambda m: (
                m["last_attempt_at"] is None,
                -(m["last_attempt_at"] or _BASE).timestamp(),
                m["user_id"],
            ),
        )
        assert [(i["user_id"], _when(i["last_attempt_at"])) for i in last["items"]] == [
            (m["user_id"], m["last_attempt_at"]) for m in latest
        ]
        bucket = rng.choice(["day", "week", "month"])
        timeline = await _get(client, f"{base}/analytics/timeline", headers, bucket=bucket, **dates)
        assert timeline == _expected_timeline(rows, bucket), (dates, bucket)
        quiz = rng.choice(data.quizzes[:3])
        timeline = await _get(
            client, f"{base}/analytics/timeline", headers, bucket=bucket, quiz_id=quiz.id, **dates
        )
        assert timeline == _expected_timeline([r for r in rows if r.quiz_id == quiz.id], bucket)


async def test_item_analysis_sums_equal_the_answer_rows(factory: Factory, db: AsyncSession):
    rng = random.Random(7)
    data = await _build(factory, rng, attempts=90)
    version = await factory.version_of(data.quizzes[0], 1)
    rows = [r for r in await _attempts(db) if r.version_id == version.id]
    answers = (
        (
            await db.execute(
                select(AttemptAnswer).where(AttemptAnswer.attempt_id.in_([r.id for r in rows]))
            )
        )
        .scalars()
        .all()
    )
    by_attempt = {r.id: r for r in rows}
    for _ in range(25):
        raw_from, raw_to = _range_param(rng), _range_param(rng)
        start, end = _bounds(raw_from, raw_to)
        if start is not None and end is not None and end <= start:
            continue
        dates = DateRange(start=start, end=end)
        inside = {r.id for r in rows if _in(r, start, end)}
        scores: dict[int, int] = defaultdict(int)
        for r in rows:
            if r.id in inside:
                scores[r.correct] += 1
        assert await repo.score_distribution(db, version.id, dates) == dict(scores)
        expected: dict[int, list[int]] = defaultdict(lambda: [0] * 6)
        for answer in answers:
            if answer.attempt_id in inside:
                sums = expected[answer.question_id]
                sums[0] += int(answer.is_correct)
                sums[1] += int(answer.is_correct) * by_attempt[answer.attempt_id].correct
                for p in range(4):
                    sums[2 + p] += (answer.selected_mask >> p) & 1
        got = {
            r.question_id: [int(v) for v in r[1:]]
            for r in await repo.question_sums(db, version.id, dates)
        }
        assert got == dict(expected), (raw_from, raw_to)


# ------------------------------------------------------- tables versus a rebuild


async def _tables(conn: AsyncConnection) -> dict[str, set[tuple[Any, ...]]]:
    """Every rollup row with attempts (rows decremented to zero are ignored)."""
    out = {}
    for table in rollups.STATS_TABLES:
        result = await conn.execute(text(f"SELECT * FROM {table} WHERE attempts > 0"))
        out[table] = {tuple(str(v) for v in row) for row in result.all()}
    return out


async def _assert_equal_to_rebuild(db: AsyncSession) -> None:
    """The live tables equal a rebuild from the attempts (done in a rolled-back transaction)."""
    await db.commit()
    assert db.bind is not None
    async with db.bind.connect() as conn:
        live = await _tables(conn)
        await conn.rollback()
        assert any(live.values())
        await rollups.rebuild(conn)
        rebuilt = await _tables(conn)
        await conn.rollback()
    for table in rollups.STATS_TABLES:
        assert live[table] == rebuilt[table], table


async def test_triggers_keep_the_tables_equal_to_a_rebuild(
    client: AsyncClient, factory: Factory, db: AsyncSession
):
    data = await _build(factory, random.Random(3), attempts=80)
    owner_headers = await factory.headers(data.owner)
    leaving_headers = await factory.headers(data.members[3])
    member_id, company_id, quiz_id = data.members[1].id, data.company.id, data.quizzes[1].id
    await _assert_equal_to_rebuild(db)

    # account deletion: the user's attempts are subtracted everywhere
    response = await client.delete("/users/me", headers=leaving_headers)
    assert response.status_code == 204
    await _assert_equal_to_rebuild(db)

    # quiz deletion: its attempts leave the company and member sums
    response = await client.delete(f"/quizzes/{quiz_id}", headers=owner_headers)
    assert response.status_code == 204
    await _assert_equal_to_rebuild(db)

    # the latest attempt of a member removed: their last_at falls back to the one before
    latest = (
        await db.execute(
            select(Attempt)
            .where(Attempt.user_id == member_id)
            .order_by(Attempt.completed_at.desc())
            .limit(1)
        )
    ).scalar_one()
    await db.delete(latest)
    await _assert_equal_to_rebuild(db)

    # company deletion takes its rollup rows with it
    response = await client.delete(f"/companies/{company_id}", headers=owner_headers)
    assert response.status_code == 204
    for table in ("stats_company", "stats_member", "stats_quiz"):
        count = (
            await db.execute(
                text(f"SELECT count(*) FROM {table} WHERE company_id = :c"),
                {"c": company_id},
            )
        ).scalar_one()
        assert count == 0, table


@pytest.mark.postgres_only
async def test_concurrent_submissions_to_one_quiz_stay_exact(
    client: AsyncClient, factory: Factory, db: AsyncSession
):
    """40 users submit to one quiz at once: no deadlock, the sums stay exact."""
    owner = await factory.user()
    users = [await factory.user() for _ in range(40)]
    company = await factory.company(owner, members=users)
    quiz = await factory.quiz(company, questions=QUESTIONS)
    version = await factory.version_of(quiz)
    answers = [{"question_id": q.id, "answer_ids": [q.answers[0].id]} for q in version.questions]
    headers = [await factory.headers(u) for u in users]

    async def submit(h: dict[str, str]) -> int:
        response = await client.post(
            f"/quizzes/{quiz.id}/attempts", json={"answers": answers}, headers=h
        )
        return response.status_code

    assert await asyncio.gather(*(submit(h) for h in headers)) == [201] * 40
    await _assert_equal_to_rebuild(db)
    body = await _get(client, f"/companies/{company.id}/analytics", await factory.headers(owner))
    assert body["attempts"] == 40


async def test_attempts_inserted_by_one_statement_stay_exact(factory: Factory, db: AsyncSession):
    """Several attempts in one INSERT, their answers in another: each counted once."""
    owner = await factory.user()
    users = [await factory.user() for _ in range(3)]
    company = await factory.company(owner, members=users)
    quiz = await factory.quiz(company, questions=QUESTIONS)
    version = await factory.version_of(quiz)
    await factory.attempt(quiz, owner)  # rows that the bulk insert then updates
    base = datetime(2026, 1, 31, 23, 59, tzinfo=UTC)
    attempts = [
        {
            "quiz_id": quiz.id,
            "quiz_version_id": version.id,
            "company_id": company.id,
            "user_id": user.id,
            "quiz_version": version.version,
            "correct_count": i % 4,
            "question_count": 3,
            "completed_at": base + timedelta(minutes=i),  # across a month's end
        }
        for i, user in enumerate([*users, *users, owner])
    ]
    inserted = await db.execute(insert(Attempt).values(attempts).returning(Attempt.id))
    ids = inserted.scalars().all()
    answers = [
        {
            "attempt_id": attempt_id,
            "question_id": question.id,
            "selected_mask": (attempt_id + p) % 4,
            "is_correct": (attempt_id + p) % 2 == 0,
        }
        for attempt_id in ids
        for p, question in enumerate(version.questions)
    ]
    await db.execute(insert(AttemptAnswer).values(answers))
    await _assert_equal_to_rebuild(db)


def _normalized(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


async def test_the_migrated_triggers_are_those_of_rollups(db: AsyncSession):
    """The migrations' head installs exactly what `rollups.create_statements` builds."""
    assert db.bind is not None
    dialect = db.bind.dialect.name
    expected = {_normalized(s) for s in rollups.create_statements(dialect)}
    if dialect == "postgresql":
        rows = await db.execute(
            text(
                "SELECT pg_get_triggerdef(t.oid), p.proname, p.prosrc FROM pg_trigger AS t "
                "JOIN pg_proc AS p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal"
            )
        )
        live = set()
        for trigger, function, source in rows.all():
            live.add(_normalized(trigger.replace(" public.", " ")))
            live.add(
                _normalized(
                    f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $${source}$$"
                )
            )
    else:
        rows = await db.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger'"))
        live = {_normalized(sql) for (sql,) in rows.all()}
    assert live == expected


@pytest.mark.postgres_only
async def test_concurrent_submissions_of_the_same_members_stay_exact(
    client: AsyncClient, factory: Factory, db: AsyncSession
):
    """Members submit to two quizzes several times at once: shared member rows, no deadlock."""
    owner = await factory.user()
    users = [await factory.user() for _ in range(8)]
    company = await factory.company(owner, members=users)
    quizzes = [await factory.quiz(company, questions=QUESTIONS) for _ in range(2)]
    payloads = []
    for quiz in quizzes:
        version = await factory.version_of(quiz)
        answers = [
            {"question_id": q.id, "answer_ids": [q.answers[-1].id]} for q in version.questions
        ]
        payloads.append((quiz.id, {"answers": answers}))
    headers = [await factory.headers(u) for u in users]

    async def submit(quiz_id: int, body: dict[str, Any], h: dict[str, str]) -> int:
        response = await client.post(f"/quizzes/{quiz_id}/attempts", json=body, headers=h)
        return response.status_code

    calls = [submit(q, b, h) for h in headers for q, b in payloads for _ in range(2)]
    assert await asyncio.gather(*calls) == [201] * len(calls)
    await _assert_equal_to_rebuild(db)
