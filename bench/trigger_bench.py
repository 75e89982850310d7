"""What the rollup triggers cost a submission on PostgreSQL, per way of writing them.

Not a test: a script for a database of its own (never `qoach_bench`). It runs the
submit path's one statement (`qoach.attempts.repository._PG_SUBMIT`, parameters
built as `submit_pg` builds them: a real quiz, its current version, members of its
company with a live login each) with plain asyncpg, N times on 1 connection and on
8 concurrent connections, each statement committing by itself (autocommit, as the
service runs it), with each set of insert triggers installed in turn:

- `none`: no rollup triggers at all (the floor: the attempt, its answers, the
  foreign key checks and the commit);
- `statement`: both insert triggers statement-level over transition tables
  (migration 0002, its DDL frozen there);
- `row`: both row-level: the attempt's trigger as shipped, and one upsert per
  answer (its attempt read by primary key) — defined here, not shipped;
- `row-attempts`: what migration 0003 installs and `rollups.create_statements`
  builds: row-level on `attempts`, statement-level on `attempt_answers`.

For each it prints wall time per submit (p50 / p95, measured by the client),
submits/s, and the PostgreSQL backends' CPU per submit (utime + stime of
`/proc/<pg_backend_pid()>/stat` before and after: PostgreSQL must run on this
machine). Variants are interleaved over `--rounds` so drift (autovacuum, a busy
neighbour) spreads over all of them. Every attempt it inserted is deleted after
each run (through the BEFORE DELETE trigger, so the rollups stay exact; with no
triggers installed, with `session_replication_role = replica`), its logins too,
and the shipped triggers are installed again at the end.

    psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE qoach_trig'
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/qoach_trig
    .venv/bin/qoach migrate
    .venv/bin/qoach demo-data --companies 10 --users 2000 --quizzes 200 \\
        --attempts 200000 --hot-quiz-attempts 20000 --first-company-share 0.3
    .venv/bin/python bench/trigger_bench.py --submits 1000 --rounds 2

The database is taken from `--url` or DATABASE_URL; the script refuses
`qoach_bench`. It changes the trigger functions of that database while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import asyncpg  # noqa: E402

from qoach.analytics import rollups  # noqa: E402
from qoach.attempts.repository import _PG_SUBMIT, _SUBMIT_ROLES  # noqa: E402
from qoach.models.stats import QUIZ_SHARDS  # noqa: E402

MIGRATION_0002 = ROOT / "src/qoach/migrations/versions/2026-11-30-2137_analytics_rollups.py"
CLOCK_TICK = 1 / os.sysconf("SC_CLK_TCK")
WARMUP = 30  # submits per connection before measuring (plans cached, pages in memory)


def _statement_level() -> list[str]:
    """Migration 0002's triggers (frozen there): both insert triggers statement-level."""
    spec = importlib.util.spec_from_file_location("analytics_rollups_0002", MIGRATION_0002)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.PG_TRIGGERS)


def _answer_row_upsert() -> str:
    """The answer `NEW` added to `stats_item`, its attempt read by primary key.

    An AFTER row trigger fires at the end of the statement: the attempt inserted by
    the same statement is visible to it.
    """
    d = rollups._Dialect("postgresql")
    right = "CASE WHEN NEW.is_correct THEN 1 ELSE 0 END"
    chosen = ", ".join(rollups._chosen("NEW"))
    chosen_set = ", ".join(
        f"chosen_{p} = stats_item.chosen_{p} + excluded.chosen_{p}" for p in range(4)
    )
    return f"""INSERT INTO stats_item
            (quiz_version_id, grain, period_start, question_id, shard, attempts, correct,
             correct_times_total, chosen_0, chosen_1, chosen_2, chosen_3)
        SELECT a.quiz_version_id, 'month', {d.period("'month'", "a.completed_at")},
            NEW.question_id, a.user_id % {QUIZ_SHARDS}, 1, {right}, {right} * a.correct_count,
            {chosen}
        FROM attempts AS a WHERE a.id = NEW.attempt_id
        ON CONFLICT (quiz_version_id, grain, period_start, question_id, shard)
        DO UPDATE SET attempts = stats_item.attempts + excluded.attempts,
            correct = stats_item.correct + excluded.correct,
            correct_times_total = stats_item.correct_times_total + excluded.correct_times_total,
            {chosen_set}"""


def _all_rows() -> list[str]:
    """Both insert triggers row-level: the shipped one on attempts, one upsert per answer."""
    shipped = [s for s in rollups.create_statements("postgresql") if "stats_answers" not in s]
    return [
        *shipped,
        "CREATE FUNCTION stats_answer_inserted() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n    {_answer_row_upsert()};\n    RETURN NULL;\nEND\n$$",
        "CREATE TRIGGER stats_answer_inserted AFTER INSERT ON attempt_answers "
        "FOR EACH ROW EXECUTE FUNCTION stats_answer_inserted()",
    ]


# name → the DDL creating that variant's triggers (after every rollup trigger is dropped)
VARIANTS: dict[str, Callable[[], list[str]]] = {
    "none": lambda: [],
    "statement": _statement_level,
    "row": _all_rows,
    "row-attempts": lambda: rollups.create_statements("postgresql"),
}
SHIPPED = "row-attempts"  # what the migrations install, restored at the end
_BENCH_DROPS = [
    "DROP TRIGGER IF EXISTS stats_answer_inserted ON attempt_answers",
    "DROP FUNCTION IF EXISTS stats_answer_inserted()",
]


# ------------------------------------------------------------------ the world


@dataclass(frozen=True)
class Question:
    id: int
    answers: int  # how many answers (mask bits 0 … answers-1)
    right: int  # mask of the right answers


@dataclass
class World:
    quiz_id: int
    version_id: int
    version_created_at: datetime
    questions: list[Question]
    # (user_id, auth session id) of members allowed to submit
    callers: list[tuple[int, int]]
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


async def load_world(conn: asyncpg.Connection, quiz_id: int, callers: int) -> World:
    """The quiz, its current version's answer key, and `callers` members with a login each."""
    version = await conn.fetchrow(
        "SELECT v.id, v.created_at FROM quizzes q "
        "JOIN quiz_versions v ON v.quiz_id = q.id AND v.version = q.version WHERE q.id = $1",
        quiz_id,
    )
    if version is None:
        raise SystemExit(f"no quiz {quiz_id}")
    rows = await conn.fetch(
        "SELECT q.id, count(*) AS n, "
        "sum(CASE WHEN a.is_correct THEN 1 << a.position ELSE 0 END) AS right "
        "FROM questions q JOIN answers a ON a.question_id = q.id "
        "WHERE q.quiz_version_id = $1 GROUP BY q.id, q.position ORDER BY q.position",
        version["id"],
    )
    questions = [Question(r["id"], r["n"], r["right"]) for r in rows]
    users = await conn.fetch(
        f"SELECT m.user_id FROM memberships m JOIN quizzes q ON q.company_id = m.company_id "
        f"WHERE q.id = $1 AND m.role IN ({_SUBMIT_ROLES}) ORDER BY m.user_id LIMIT $2",
        quiz_id,
        callers,
    )
    world = World(quiz_id, version["id"], version["created_at"], questions, [])
    expires = datetime.now(UTC) + timedelta(days=1)
    for user in users:
        session_id = await conn.fetchval(
            "INSERT INTO auth_sessions (user_id, refresh_jti, expires_at) "
            "VALUES ($1, $2, $3) RETURNING id",
            user["user_id"],
            f"trigbench-{world.run}-{user['user_id']}",
            expires,
        )
        world.callers.append((user["user_id"], session_id))
    return world


async def drop_world(conn: asyncpg.Connection, world: World) -> None:
    await conn.execute(
        "DELETE FROM auth_sessions WHERE id = ANY($1::int[])", [s for _, s in world.callers]
    )


def submit_args(
    world: World, caller: tuple[int, int], key: str, rng: random.Random
) -> tuple[Any, ...]:
    """`_PG_SUBMIT`'s parameters, in `submit_pg`'s order, for a random set of choices."""
    masks: list[int] = []
    correct: list[bool] = []
    for q in world.questions:
        mask = q.right if rng.random() < 0.6 else rng.randrange(1, 1 << q.answers)
        masks.append(mask)
        correct.append(mask == q.right)
    user_id, session_id = caller
    return (
        world.quiz_id,
        user_id,
        key,
        world.version_id,
        world.version_created_at,
        sum(correct),
        len(correct),
        datetime.now(UTC),
        hashlib.sha256(key.encode()).hexdigest(),
        [q.id for q in world.questions],
        masks,
        correct,
        session_id,
    )


# ------------------------------------------------------------------ one run


def backend_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) a PostgreSQL backend has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds per submit
    wall: float = 0.0  # seconds, all connections
    cpu: float = 0.0  # seconds of backend CPU
    submits: int = 0


async def install(conn: asyncpg.Connection, statements: Sequence[str]) -> None:
    """Drop every rollup trigger (of any revision, and the bench's own), create `statements`."""
    async with conn.transaction():
        for statement in [*_BENCH_DROPS, *rollups.drop_statements("postgresql")]:
            await conn.execute(statement)
        for statement in statements:
            await conn.execute(statement)


async def run_once(
    url: str, world: World, connections: int, submits: int
) -> tuple[Result, list[int]]:
    """`submits` measured submissions over `connections` connections (after a warm-up)."""
    conns = [await asyncpg.connect(url) for _ in range(connections)]
    pids = [await c.fetchval("SELECT pg_backend_pid()") for c in conns]
    inserted: list[int] = []
    result = Result()
    per_conn = submits // connections

    async def loop(i: int, count: int, measure: bool) -> None:
        conn = conns[i]
        rng = random.Random(i)
        mine = world.callers[i::connections]
        for k in range(count):
            key = f"trigbench-{world.run}-{i}-{'m' if measure else 'w'}-{k}-{uuid.uuid4().hex[:6]}"
            args = submit_args(world, mine[k % len(mine)], key, rng)
            t0 = time.perf_counter()
            row = await conn.fetchrow(_PG_SUBMIT, *args)
            elapsed = time.perf_counter() - t0
            assert row is not None and row["attempt_id"] is not None, row
            inserted.append(row["attempt_id"])
            if measure:
                result.latencies.append(elapsed)

    try:
        await asyncio.gather(*(loop(i, WARMUP, False) for i in range(connections)))
        cpu0 = sum(backend_cpu(p) for p in pids)
        t0 = time.perf_counter()
        await asyncio.gather(*(loop(i, per_conn, True) for i in range(connections)))
        result.wall = time.perf_counter() - t0
        result.cpu = sum(backend_cpu(p) for p in pids) - cpu0
        result.submits = per_conn * connections
    finally:
        for c in conns:
            await c.close()
    return result, inserted


async def cleanup(conn: asyncpg.Connection, attempt_ids: list[int], triggers: bool) -> None:
    """Delete the run's attempts: through the delete trigger if the insert ones counted them."""
    async with conn.transaction():
        if not triggers:
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "DELETE FROM attempt_answers WHERE attempt_id = ANY($1::int[])", attempt_ids
            )
        await conn.execute("DELETE FROM attempts WHERE id = ANY($1::int[])", attempt_ids)


# ------------------------------------------------------------------ report


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(results: dict[tuple[str, int], Result]) -> None:
    print()
    print(
        "| triggers | connections | submits | p50 ms | p95 ms | submits/s | backend CPU ms/submit |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (name, connections), r in results.items():
        print(
            f"| {name} | {connections} | {r.submits} | "
            f"{statistics.median(r.latencies) * 1000:.2f} | {_pct(r.latencies, 0.95) * 1000:.2f} | "
            f"{r.submits / r.wall:.0f} | {r.cpu / r.submits * 1000:.2f} |"
        )


async def main(args: argparse.Namespace) -> None:
    url = args.url.replace("postgresql+asyncpg://", "postgresql://")
    if url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] == "qoach_bench":
        raise SystemExit(
            "refusing to change the triggers of qoach_bench: use a database of its own"
        )
    admin = await asyncpg.connect(url)
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    world = await load_world(admin, args.quiz, args.callers)
    print(
        f"quiz {world.quiz_id}: {len(world.questions)} questions, {len(world.callers)} callers; "
        f"synchronous_commit={await admin.fetchval('SHOW synchronous_commit')}",
        flush=True,
    )
    results: dict[tuple[str, int], Result] = {}
    try:
        for round_ in range(args.rounds):
            for name in names:
                await install(admin, VARIANTS[name]())
                for connections in args.connections:
                    result, inserted = await run_once(url, world, connections, args.submits)
                    await cleanup(admin, inserted, triggers=name != "none")
                    total = results.setdefault((name, connections), Result())
                    total.latencies += result.latencies
                    total.wall += result.wall
                    total.cpu += result.cpu
                    total.submits += result.submits
                    print(
                        f"round {round_ + 1} {name:>12} x{connections}: "
                        f"{result.submits / result.wall:.0f}/s, "
                        f"p50 {statistics.median(result.latencies) * 1000:.2f} ms, "
                        f"CPU {result.cpu / result.submits * 1000:.2f} ms",
                        flush=True,
                    )
    finally:
        await install(admin, VARIANTS[SHIPPED]())
        await drop_world(admin, world)
        await admin.close()
    report(results)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--quiz", type=int, default=1, help="quiz to submit to (1)")
    parser.add_argument("--callers", type=int, default=400, help="members submitting (400)")
    parser.add_argument(
        "--submits", type=int, default=1000, help="measured submits per run (1,000)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds over the variants (2)")
    parser.add_argument(
        "--connections",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 8],
        help="comma-separated connection counts (1,8)",
    )
    parser.add_argument("--variants", default="", help="comma-separated, default: all")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
