"""`qoach demo-data`: fill the configured database with a realistic data set.

qoach demo-data --small                  # "Demo Co", 20 users, 5 quizzes, in seconds
qoach demo-data --scale                  # 10k users, 1k quizzes, 1M attempts (PostgreSQL)
qoach demo-data --users 500 --quizzes 40 --attempts 20000 --seed 3
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from qoach.config import get_settings
from qoach.demo.generator import (
    DEFAULT_DOMAIN,
    DEFAULT_PASSWORD,
    PRESETS,
    DemoDataError,
    DemoResult,
    DemoSpec,
    generate_demo_data,
)

# options that map one to one onto DemoSpec fields
_FIELDS = (
    "companies",
    "users",
    "quizzes",
    "attempts",
    "min_questions",
    "max_questions",
    "days",
    "seed",
    "password",
    "domain",
    "hot_quiz_attempts",
    "first_company_share",
    "first_company_name",
    "chunk_attempts",
    "check_foreign_keys",
)


def spec_from_args(args: argparse.Namespace) -> DemoSpec:
    values = dict(PRESETS.get(args.preset or "", {}))
    for name in _FIELDS:
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    return DemoSpec(**values)


def _print(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _run(spec: DemoSpec, migrate: bool) -> DemoResult:
    from qoach.db.engine import create_engine

    settings = get_settings()
    if migrate or settings.is_sqlite:
        from qoach.db.migrate import upgrade

        await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url, settings, pool=False)
    try:
        return await generate_demo_data(engine, spec, progress=_print)
    finally:
        await engine.dispose()


def cmd_demo_data(args: argparse.Namespace) -> int:
    try:
        spec = spec_from_args(args)
        spec.check()
    except (DemoDataError, TypeError) as exc:
        print(f"demo-data: {exc}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(_run(spec, args.migrate))
    except DemoDataError as exc:
        print(f"demo-data: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{value:,} {name}" for name, value in result.counts.items())
    print(f"Wrote {counts} in {result.seconds:.1f} s")
    for stage, seconds in result.timings.items():
        print(f"  {stage}: {seconds:.1f} s")
    print(f"Company {spec.first_company_name!r} has id {result.first_company_id}")
    if result.hot_quiz_id is not None:
        print(f"Quiz {result.hot_quiz_id} has {spec.hot_quiz_attempts:,} attempts")
    print(f"Log in as {result.owner_email} / {spec.password} (every demo user shares it)")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="fill the database with demo companies, users, quizzes and attempts",
        description=(
            "Writes a realistic data set in bulk (COPY on PostgreSQL) into the database of "
            "DATABASE_URL, in one transaction. Options override the chosen preset."
        ),
    )
    presets = parser.add_mutually_exclusive_group()
    presets.add_argument(
        "--small",
        dest="preset",
        action="store_const",
        const="small",
        help="one company 'Demo Co' with 20 users, 5 quizzes and 400 attempts (the default)",
    )
    presets.add_argument(
        "--scale",
        dest="preset",
        action="store_const",
        const="scale",
        help="the benchmark set: 20 companies, 10,000 users, 1,000 quizzes, 1,000,000 attempts",
    )
    parser.add_argument("--companies", type=int)
    parser.add_argument("--users", type=int)
    parser.add_argument("--quizzes", type=int)
    parser.add_argument("--attempts", type=int)
    parser.add_argument("--min-questions", type=int, help="questions per quiz, at least (10)")
    parser.add_argument("--max-questions", type=int, help="questions per quiz, at most (50)")
    parser.add_argument("--days", type=int, help="attempts spread over the last N days (365)")
    parser.add_argument("--seed", type=int, help="random seed (1): same seed, same data")
    parser.add_argument(
        "--password", help=f"the password of every demo user ({DEFAULT_PASSWORD!r})"
    )
    parser.add_argument("--domain", help=f"e-mail domain of the demo users ({DEFAULT_DOMAIN!r})")
    parser.add_argument(
        "--hot-quiz-attempts",
        type=int,
        help="give the first quiz (20 questions) exactly N of the attempts (item analysis bench)",
    )
    parser.add_argument(
        "--first-company-share",
        type=float,
        help="share (0-1) of members, quizzes and attempts in the first company",
    )
    parser.add_argument("--first-company-name", help="name of the first company ('Demo Co')")
    parser.add_argument(
        "--chunk-attempts", type=int, help="attempts generated and written per chunk (5,000)"
    )
    parser.add_argument(
        "--check-foreign-keys",
        action="store_true",
        default=None,
        help=(
            "PostgreSQL: keep the per-row foreign key triggers (5x slower); by default a "
            "superuser load skips them, every reference being planned"
        ),
    )
    parser.add_argument(
        "--migrate", action="store_true", help="apply migrations first (always done on SQLite)"
    )
    parser.set_defaults(func=cmd_demo_data, preset=None)
