"""Check the rollup-based analytics against direct aggregates on a real data set.

Not a test: a script for the scale data set (or any database). For `--samples`
random filters (a company, `from` / `to` as dates or datetimes inside a day, open
ends, sometimes a quiz) it computes each number twice and compares:

- the service's answer (rollup tables for whole periods + the attempts at the edges);
- a direct aggregate written from API.md's definitions in plain SQL: company
  totals over the **answer rows** (Σ is_correct / count of `attempt_answers`, which
  must equal Σ correct_count / Σ question_count), per member and per quiz over
  `attempts`, the leaderboard's top 50 ranked in SQL, and item analysis sums
  (score distribution, per-question right answers, Σ right × total, answer choices)
  over the answer rows of the quiz's current version.

It prints one line per filter with both timings and exits 1 on the first mismatch.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/qoach_bench \\
        .venv/bin/python bench/check_rollups.py --samples 12
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from qoach.analytics import repository as repo  # noqa: E402
from qoach.analytics import service  # noqa: E402
from qoach.analytics.schemas import CompanyAnalytics  # noqa: E402
from qoach.config import Settings  # noqa: E402
from qoach.dates import DateRange  # noqa: E402
from qoach.db.engine import create_engine  # noqa: E402
from qoach.pagination import PageParams  # noqa: E402

RANGE = (
    "(CAST(:start AS timestamptz) IS NULL OR a.completed_at >= :start) AND "
    "(CAST(:end AS timestamptz) IS NULL OR a.completed_at < :end)"
)


def _random_bound(rng: random.Random, lo: datetime, hi: datetime) -> datetime | None:
    roll = rng.random()
    if roll < 0.2:
        return None
    moment = lo + (hi - lo) * rng.random()
    if roll < 0.6:  # a date
        return datetime.combine(moment.date(), dtime.min, tzinfo=UTC)
    return moment.replace(microsecond=0)


async def _direct_company(s: AsyncSession, company_id: int, dates: DateRange) -> dict[str, Any]:
    params = {"c": company_id, "start": dates.start, "end": dates.end}
    totals = (
        await s.execute(
            text(
                "SELECT count(*) FILTER (WHERE x.is_correct), count(*), count(DISTINCT a.id) "
                f"FROM attempts a JOIN attempt_answers x ON x.attempt_id = a.id "
                f"WHERE a.company_id = :c AND {RANGE}"
            ),
            params,
        )
    ).one()
    members = (
        await s.execute(
            text(
                "SELECT m.user_id, sum(a.correct_count), sum(a.question_count), count(a.id), "
                "max(a.completed_at) FROM memberships m LEFT JOIN attempts a "
                f"ON a.user_id = m.user_id AND a.company_id = m.company_id AND {RANGE} "
                "WHERE m.company_id = :c GROUP BY m.user_id ORDER BY m.user_id"
            ),
            params,
        )
    ).all()
    quizzes = (
        await s.execute(
            text(
                "SELECT q.id, sum(a.correct_count), sum(a.question_count), count(a.id), "
                f"max(a.completed_at) FROM quizzes q LEFT JOIN attempts a "
                f"ON a.quiz_id = q.id AND {RANGE} WHERE q.company_id = :c "
                "GROUP BY q.id ORDER BY q.id"
            ),
            params,
        )
    ).all()
    top = (
        (
            await s.execute(
                text(
                    "SELECT a.user_id FROM attempts a JOIN memberships m ON m.user_id = a.user_id "
                    f"AND m.company_id = a.company_id WHERE a.company_id = :c AND {RANGE} "
                    "GROUP BY a.user_id ORDER BY sum(a.correct_count)::float8 / "
                    "sum(a.question_count) DESC, count(*) DESC, a.user_id LIMIT 50"
                ),
                params,
            )
        )
        .scalars()
        .all()
    )

    def avg(c: Any, q: Any, n: int) -> float | None:
        return int(c) / int(q) if n and q else None

    return {
        "average_score": avg(totals[0], totals[1], totals[2]),
        "attempts": totals[2],
        "members": [(u, avg(c, q, n), n, t) for u, c, q, n, t in members],
        "quizzes": [(i, avg(c, q, n), n, t) for i, c, q, n, t in quizzes],
        "top": list(top),
    }


async def _direct_items(s: AsyncSession, version_id: int, dates: DateRange) -> Any:
    params = {"v": version_id, "start": dates.start, "end": dates.end}
    scores = (
        await s.execute(
            text(
                "SELECT a.correct_count, count(*) FROM attempts a "
                f"WHERE a.quiz_version_id = :v AND {RANGE} GROUP BY 1"
            ),
            params,
        )
    ).all()
    questions = (
        await s.execute(
            text(
                "SELECT x.question_id, count(*) FILTER (WHERE x.is_correct), "
                "coalesce(sum(a.correct_count) FILTER (WHERE x.is_correct), 0), "
                + ", ".join(f"sum((x.selected_mask >> {p}) & 1)" for p in range(4))
                + " FROM attempts a JOIN attempt_answers x ON x.attempt_id = a.id "
                f"WHERE a.quiz_version_id = :v AND {RANGE} GROUP BY 1"
            ),
            params,
        )
    ).all()
    return {int(c): int(n) for c, n in scores}, {
        int(r[0]): [int(v) for v in r[1:]] for r in questions
    }


async def _rollup_company(s: AsyncSession, company_id: int, dates: DateRange) -> dict[str, Any]:
    body = CompanyAnalytics.model_validate_json(
        await service.company_analytics(s, company_id, dates)
    )
    board = await service.leaderboard(s, company_id, dates, PageParams(limit=50, offset=0))
    return {
        "average_score": body.average_score,
        "attempts": body.attempts,
        "members": [
            (m.user_id, m.average_score, m.attempts, m.last_attempt_at) for m in body.members
        ],
        "quizzes": [
            (q.quiz_id, q.average_score, q.attempts, q.last_attempt_at) for q in body.quizzes
        ],
        "top": [entry.user_id for entry in board.items],
    }


async def _rollup_items(s: AsyncSession, version_id: int, dates: DateRange) -> Any:
    scores = await repo.score_distribution(s, version_id, dates)
    rows = await repo.question_sums(s, version_id, dates)
    return scores, {int(r[0]): [int(v) for v in r[1:]] for r in rows}


def _describe(dates: DateRange) -> str:
    def one(value: datetime | None) -> str:
        if value is None:
            return "…"
        if value.time() == dtime.min:
            return value.date().isoformat()
        return value.isoformat(timespec="seconds").replace("+00:00", "Z")

    return f"[{one(dates.start)}, {one(dates.end)})"


async def main(args: argparse.Namespace) -> int:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        print("set DATABASE_URL to the PostgreSQL database to check", file=sys.stderr)
        return 2
    settings = Settings(database_url=url)
    engine = create_engine(settings.database_url, settings, pool=False)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    rng = random.Random(args.seed)
    async with sessions() as s:
        lo, hi = (
            await s.execute(text("SELECT min(completed_at), max(completed_at) FROM attempts"))
        ).one()
        companies = (
            (await s.execute(text("SELECT id FROM companies ORDER BY id LIMIT :n"), {"n": 5}))
            .scalars()
            .all()
        )
        hot = (
            (
                await s.execute(
                    text(
                        "SELECT v.id FROM quizzes q JOIN quiz_versions v ON v.quiz_id = q.id "
                        "AND v.version = q.version WHERE q.company_id = :c ORDER BY q.id LIMIT 5"
                    ),
                    {"c": companies[0]},
                )
            )
            .scalars()
            .all()
        )
    print(f"attempts from {lo:%Y-%m-%d} to {hi:%Y-%m-%d}; companies {list(companies)}")
    print("| filter | company | rollups ms | direct ms | items (version) rollups ms | direct ms |")
    print("|---|---|---:|---:|---:|---:|")
    for i in range(args.samples):
        start = _random_bound(rng, lo - timedelta(days=3), hi + timedelta(days=3))
        end = _random_bound(rng, lo - timedelta(days=3), hi + timedelta(days=3))
        if start is not None and end is not None and end <= start:
            start, end = end, start
        if start is not None and end is not None and end <= start:
            end = start + timedelta(days=1)
        dates = DateRange(start=start, end=end)
        company_id = companies[0] if i % 2 == 0 else rng.choice(companies)
        version_id = rng.choice(hot)
        async with sessions() as s:
            t0 = time.perf_counter()
            fast = await _rollup_company(s, company_id, dates)
            t1 = time.perf_counter()
            slow = await _direct_company(s, company_id, dates)
            t2 = time.perf_counter()
            fast_items = await _rollup_items(s, version_id, dates)
            t3 = time.perf_counter()
            slow_items = await _direct_items(s, version_id, dates)
            t4 = time.perf_counter()
        print(
            f"| {_describe(dates)} | {company_id} | {(t1 - t0) * 1000:.0f} | "
            f"{(t2 - t1) * 1000:.0f} | {(t3 - t2) * 1000:.0f} ({version_id}) | "
            f"{(t4 - t3) * 1000:.0f} |",
            flush=True,
        )
        for key in fast:
            if fast[key] != slow[key]:
                print(f"MISMATCH in {key} for company {company_id} {_describe(dates)}")
                return 1
        if fast_items != slow_items:
            print(f"MISMATCH in item analysis sums for version {version_id} {_describe(dates)}")
            return 1
    print(f"all {args.samples} filters equal")
    await engine.dispose()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--seed", type=int, default=8)
    raise SystemExit(asyncio.run(main(parser.parse_args())))
