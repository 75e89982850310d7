"""Excel import benchmark: a 10,000-question workbook, parsed, validated and imported.

Not a test. It writes a workbook of `--quizzes × --questions` rows in the import
layout (default 100 × 100 = 10,000 questions, 40,000 answers) and reports

1. parse + validation, in process, as the import runs it in its worker thread
   (`analyse_workbook`: archive checks, python-calamine, the parser, `QuizCreate`
   for every quiz) — best and median of `--repeat` runs, with each stage on its own;
2. peak memory of one such run: Python allocations (tracemalloc) and the growth of
   the process's resident set (VmHWM after − VmRSS before, the high-water mark
   reset through /proc/self/clear_refs; Rust allocations of calamine included);
3. the whole import through HTTP (multipart upload, checks, database lookups,
   writes of every quiz and its notifications, commit) on an in-process app, as a
   dry run and for real, against a throwaway SQLite file (default) or PostgreSQL
   database (`--database postgres`, dropped afterwards).

    .venv/bin/python bench/import_bench.py
    .venv/bin/python bench/import_bench.py --database postgres --members 50
    BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
# the migration runner reads the environment's settings: give it real secrets
os.environ.setdefault("SECRET_KEY", "bench-access-secret-" + "x" * 40)
os.environ.setdefault("REFRESH_SECRET_KEY", "bench-refresh-secret-" + "y" * 40)

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_SECONDS = 0.5


def build_workbook(quizzes: int, questions: int) -> bytes:
    from qoach.quizzes.excel_import.template import SheetQuiz, write_quizzes

    return write_quizzes(
        [
            SheetQuiz(
                quiz_id=None,
                title=f"Bench quiz {q + 1}: safety, compliance & co.",
                description=f"Quiz {q + 1} of the import benchmark",
                frequency_days=7,
                questions=[
                    (
                        f"Question {n + 1} of quiz {q + 1}: which of these is right?",
                        [
                            (f"Answer {a + 1} to question {n + 1} of quiz {q + 1}", a in (0, n % 4))
                            for a in range(4)
                        ],
                    )
                    for n in range(questions)
                ],
            )
            for q in range(quizzes)
        ]
    )


# ---------------------------------------------------------------- parse + validation


def _status(field: str) -> int:
    """A /proc/self/status value in KiB (0 where /proc is not available)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def bench_parse(content: bytes, repeat: int) -> dict[str, float]:
    from qoach.config import Settings
    from qoach.quizzes.excel_import import service
    from qoach.quizzes.excel_import.parser import parse_rows
    from qoach.quizzes.excel_import.reader import read_first_sheet
    from qoach.quizzes.excel_import.safety import check_workbook
    from qoach.quizzes.schemas import QuizCreate

    limits = service.limits_from(Settings(secret_key="b" * 40, refresh_secret_key="c" * 40))
    service.analyse_workbook(content, limits)  # warm-up: imports, schema builds, caches

    totals, cpu = [], []
    stages: dict[str, list[float]] = {"checks": [], "calamine": [], "parser": [], "QuizCreate": []}
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        analysis = service.analyse_workbook(content, limits)
        totals.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        assert not analysis.errors, analysis.errors[:3]
        # the same stages one by one (collector paused as in analyse_workbook)
        with service._gc_paused():
            t0 = time.perf_counter()
            check_workbook(content, limits)
            t1 = time.perf_counter()
            rows = read_first_sheet(content, limits)  # runs the checks again
            t2 = time.perf_counter()
            result = parse_rows(rows)
            t3 = time.perf_counter()
            for quiz in result.quizzes:
                QuizCreate.model_validate(quiz.payload())
            t4 = time.perf_counter()
            del rows, result
        stages["checks"].append(t1 - t0)
        stages["calamine"].append((t2 - t1) - (t1 - t0))
        stages["parser"].append(t3 - t2)
        stages["QuizCreate"].append(t4 - t3)

    # memory of one run
    rss_before = _status("VmRSS")
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    tracemalloc.start()
    service.analyse_workbook(content, limits)
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = _status("VmHWM")
    return {
        "best": min(totals),
        "median": statistics.median(totals),
        "cpu_best": min(cpu),
        **{f"stage_{name}": statistics.median(values) for name, values in stages.items()},
        "python_peak_mb": python_peak / 2**20,
        "rss_growth_mb": max(0, rss_peak - rss_before) / 1024,
    }


# ------------------------------------------------------------------- through HTTP


async def bench_http(content: bytes, *, database: str, members: int) -> dict[str, float]:
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport, AsyncClient
    from sqlalchemy import func, select

    from qoach.auth.tokens import encode_token, new_jti
    from qoach.config import Settings
    from qoach.db.migrate import upgrade
    from qoach.main import create_app
    from qoach.models import AuthSession, Company, Membership, Question, Quiz, User

    pg_name = f"qoach_import_bench_{uuid.uuid4().hex[:8]}"
    if database == "postgres":
        import asyncpg

        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{pg_name}"')
        await admin.close()
        url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        url = f"{url}/{pg_name}"
    else:
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='qoach-import-bench-')}/bench.db"
    settings = Settings(
        database_url=url,
        redis_url=None,
        secret_key="bench-access-secret-" + "x" * 40,
        refresh_secret_key="bench-refresh-secret-" + "y" * 40,
        scheduler_enabled=False,
        log_level="WARNING",
    )
    try:
        await asyncio.to_thread(upgrade, settings.database_url)
        app = create_app(settings)
        async with LifespanManager(app):
            async with app.state.sessionmaker() as session:
                users = [User(email=f"bench{n}@example.com") for n in range(members + 1)]
                company = Company(name="Bench Inc.", is_visible=True)
                session.add_all([*users, company])
                await session.flush()
                session.add_all(
                    Membership(
                        company_id=company.id, user_id=u.id, role="owner" if n == 0 else "member"
                    )
                    for n, u in enumerate(users)
                )
                auth = AuthSession(
                    user_id=users[0].id,
                    refresh_jti=new_jti(),
                    expires_at=datetime.now(UTC) + timedelta(days=1),
                )
                session.add(auth)
                await session.commit()
                token, _ = encode_token(
                    settings, token_type="access", user_id=users[0].id, session_id=auth.id
                )
                company_id = company.id
            transport = ASGITransport(app=app)
            async with AsyncClient(transport=transport, base_url="http://bench") as client:
                url_ = f"/companies/{company_id}/quizzes/import"
                files = {"file": ("bench.xlsx", content, "application/octet-stream")}
                headers = {"Authorization": f"Bearer {token}"}
                started = time.perf_counter()
                dry = await client.post(url_, files=files, headers=headers, params={"dry_run": 1})
                dry_seconds = time.perf_counter() - started
                assert dry.status_code == 200, dry.text[:500]
                started = time.perf_counter()
                real = await client.post(url_, files=files, headers=headers)
                real_seconds = time.perf_counter() - started
                assert real.status_code == 200, real.text[:500]
                started = time.perf_counter()
                again = await client.post(url_, files=files, headers=headers)  # by title
                update_seconds = time.perf_counter() - started
                assert len(again.json()["updated"]) == len(real.json()["created"])
            async with app.state.sessionmaker() as session:
                quizzes = (await session.execute(select(func.count()).select_from(Quiz))).scalar()
                questions = (
                    await session.execute(select(func.count()).select_from(Question))
                ).scalar()
        return {
            "dry_run": dry_seconds,
            "create": real_seconds,
            "update": update_seconds,
            "quizzes": float(quizzes or 0),
            "questions": float(questions or 0),
        }
    finally:
        if database == "postgres":
            import asyncpg

            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quizzes", type=int, default=100)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--members", type=int, default=20, help="members notified per new quiz")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    content = build_workbook(args.quizzes, args.questions)
    built = time.perf_counter() - started
    total = args.quizzes * args.questions
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"workbook: {args.quizzes} quizzes × {args.questions} questions = {total} rows, "
        f"{len(content) / 2**20:.2f} MiB (written in {built:.2f} s)"
    )
    parse = bench_parse(content, args.repeat)
    verdict = "within" if parse["best"] <= TARGET_SECONDS else "OVER"
    print(
        f"parse + validation: best {parse['best']:.3f} s, median {parse['median']:.3f} s "
        f"({verdict} the {TARGET_SECONDS} s target); CPU time best {parse['cpu_best']:.3f} s"
    )
    print(
        "  stages (median): "
        + ", ".join(
            f"{name.removeprefix('stage_')} {value:.3f} s"
            for name, value in parse.items()
            if name.startswith("stage_")
        )
    )
    print(
        f"  peak memory of one run: Python {parse['python_peak_mb']:.1f} MiB (tracemalloc), "
        f"RSS growth {parse['rss_growth_mb']:.1f} MiB"
    )
    if not args.skip_http:
        http = asyncio.run(bench_http(content, database=args.database, members=args.members))
        print(
            f"through HTTP ({args.database}, {args.members} members notified per new quiz): "
            f"dry run {http['dry_run']:.2f} s, create {http['create']:.2f} s, "
            f"update (new versions) {http['update']:.2f} s — "
            f"{int(http['quizzes'])} quizzes, {int(http['questions'])} questions stored"
        )


if __name__ == "__main__":
    main()
