"""Export benchmark: stream ~1,000,000 answer rows as CSV from a real server.

Not a test. It creates a throwaway PostgreSQL database, migrates it, bulk-loads
a company whose attempts hold `--attempts × --questions` answer rows (asyncpg
`copy_records_to_table`), starts the app under uvicorn in a child process,
streams `GET /companies/{id}/export?format=csv` (and any other `--formats`)
over HTTP, and reports rows/s, time to first byte and the server's peak RSS
growth during the export. The database is dropped at the end (`--keep` keeps it).

    .venv/bin/python bench/export_bench.py                      # 100,000 × 10 = 1M rows, CSV
    .venv/bin/python bench/export_bench.py --formats csv,json,xlsx
    BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python ...

Peak RSS growth = the server's VmHWM during the export − its VmRSS just before
(after a warm-up export, with the high-water mark reset via /proc/<pid>/clear_refs),
cross-checked by sampling VmRSS every 20 ms. Server CPU = its utime + stime over the
export (/proc/<pid>/stat), per row.

`--copy-only` measures the PostgreSQL CSV query alone on an existing database, read
only (no server, no HTTP): the service's COPY statement and settings, one asyncpg
connection, the binary framing stripped as the service does, the bytes dropped. It
reports rows/s, the backend's CPU per row (/proc of the backend, when PostgreSQL runs
on this host) and this process's CPU per row. The filter is bench/run.py's export_csv
scenario: a company's quiz from the date that leaves its last `--last-attempts`.

    .venv/bin/python bench/export_bench.py --copy-only --database qoach_bench --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-access-secret-" + "x" * 40
REFRESH_SECRET = "bench-refresh-secret-" + "y" * 40
TARGET_GROWTH_MB = 32  # issue 8: memory growth ≤ 32 MB
OWNER_ID = 1


def db_url(database: str, driver: str = "postgresql") -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', driver + '://', 1)}/{database}"


# ------------------------------------------------------------------------- loading


async def load(database: str, *, members: int, quizzes: int, questions: int, attempts: int) -> None:
    """Bulk-load one company (id 1) owned by user OWNER_ID."""
    conn = await asyncpg.connect(db_url(database))
    rng = random.Random(42)
    now = datetime.now(UTC)
    try:
        await conn.copy_records_to_table(
            "users",
            columns=["id", "email", "first_name", "last_name"],
            records=[
                (u, f"user{u}@bench.example", "Bench", f"User {u}") for u in range(1, members + 1)
            ],
        )
        await conn.copy_records_to_table(
            "companies", columns=["id", "name", "is_visible"], records=[(1, "Bench Inc.", True)]
        )
        await conn.copy_records_to_table(
            "memberships",
            columns=["id", "company_id", "user_id", "role", "joined_at"],
            records=[
                (u, 1, u, "owner" if u == OWNER_ID else "member", now)
                for u in range(1, members + 1)
            ],
        )
        await conn.copy_records_to_table(
            "quizzes",
            columns=["id", "company_id", "title", "frequency_days", "version"],
            records=[
                (q, 1, f"Bench quiz {q}: safety, compliance & co.", 7, 1)
                for q in range(1, quizzes + 1)
            ],
        )
        await conn.copy_records_to_table(
            "quiz_versions",
            columns=["id", "quiz_id", "version", "question_count"],
            records=[(q, q, 1, questions) for q in range(1, quizzes + 1)],
        )
        question_rows, answer_rows = [], []
        right_mask: dict[int, int] = {}
        for q in range(1, quizzes + 1):
            for pos in range(questions):
                qid = (q - 1) * questions + pos + 1
                question_rows.append(
                    (qid, q, pos, f"Question {pos + 1} of quiz {q}: which is right?")
                )
                correct = {0} if pos % 3 else {0, 2}  # every third question has two right answers
                right_mask[qid] = sum(1 << p for p in correct)
                for apos in range(4):
                    answer_rows.append(
                        (
                            qid * 4 + apos,
                            qid,
                            apos,
                            f"Answer {apos + 1} to question {qid}",
                            apos in correct,
                        )
                    )
        await conn.copy_records_to_table(
            "questions",
            columns=["id", "quiz_version_id", "position", "text"],
            records=question_rows,
        )
        await conn.copy_records_to_table(
            "answers",
            columns=["id", "question_id", "position", "text", "is_correct"],
            records=answer_rows,
        )
        start = now - timedelta(days=365)
        chunk = 20_000
        for first in range(1, attempts + 1, chunk):
            attempt_rows, answer_rows = [], []
            for a in range(first, min(first + chunk, attempts + 1)):
                quiz = rng.randint(1, quizzes)
                user = rng.randint(1, members)
                correct_count = 0
                for pos in range(questions):
                    qid = (quiz - 1) * questions + pos + 1
                    roll = rng.random()
                    mask = (
                        right_mask[qid]
                        if roll < 0.6
                        else (0 if roll < 0.65 else rng.randint(1, 15))
                    )
                    ok = mask == right_mask[qid]
                    correct_count += ok
                    answer_rows.append((a, qid, mask, ok))
                completed = start + timedelta(seconds=a * 365 * 86400 // attempts)
                attempt_rows.append(
                    (a, quiz, quiz, 1, user, 1, correct_count, questions, completed)
                )
            await conn.copy_records_to_table(
                "attempts",
                columns=[
                    "id",
                    "quiz_id",
                    "quiz_version_id",
                    "company_id",
                    "user_id",
                    "quiz_version",
                    "correct_count",
                    "question_count",
                    "completed_at",
                ],
                records=attempt_rows,
            )
            await conn.copy_records_to_table(
                "attempt_answers",
                columns=["attempt_id", "question_id", "selected_mask", "is_correct"],
                records=answer_rows,
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def login(database: str, user_id: int) -> str:
    """An auth session row and an access token for it (signed like the server's)."""
    from qoach.auth.tokens import encode_token
    from qoach.config import Settings

    conn = await asyncpg.connect(db_url(database))
    try:
        session_id = await conn.fetchval(
            "INSERT INTO auth_sessions (user_id, refresh_jti, expires_at) VALUES ($1, $2, $3) "
            "RETURNING id",
            user_id,
            secrets.token_hex(16),
            datetime.now(UTC) + timedelta(days=1),
        )
    finally:
        await conn.close()
    settings = Settings(
        secret_key=SECRET, refresh_secret_key=REFRESH_SECRET, access_token_expire_minutes=120
    )
    token, _ = encode_token(settings, token_type="access", user_id=user_id, session_id=session_id)
    return token


# -------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(database: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": db_url(database, "postgresql+asyncpg"),
        "REDIS_URL": "",
        "SECRET_KEY": SECRET,
        "REFRESH_SECRET_KEY": REFRESH_SECRET,
        "ACCESS_TOKEN_EXPIRE_MINUTES": "120",
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT / "src"),
    }
    command = [
        sys.executable, "-m", "uvicorn", "qoach.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=ROOT)


async def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(200):
            if process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                if (await client.get("/")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def is_local(pid: int) -> bool:
    """Whether `pid` (a PostgreSQL backend) is a process of this host."""
    return Path(f"/proc/{pid}/stat").exists()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- run


async def export_once(base: str, token: str, pid: int, export_format: str) -> dict[str, float]:
    stop = asyncio.Event()
    peak_sampled = 0

    async def sample() -> None:
        nonlocal peak_sampled
        while not stop.is_set():
            peak_sampled = max(peak_sampled, status_kb(pid, "VmRSS"))
            await asyncio.sleep(0.02)

    headers = {"Authorization": f"Bearer {token}"}
    url = f"/companies/1/export?format={export_format}"
    async with httpx.AsyncClient(base_url=base, timeout=None) as client:
        # warm-up: imports, pools and caches the real run will also have
        (await client.get(url + "&from=2100-01-01", headers=headers)).raise_for_status()
        await asyncio.sleep(0.5)
        hwm_reset = reset_peak(pid)
        before = status_kb(pid, "VmRSS")
        sampler = asyncio.create_task(sample())
        size = newlines = 0
        first_byte = first_row = None
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        async with client.stream("GET", url, headers=headers) as response:
            response.raise_for_status()
            async for chunk in response.aiter_raw():
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                size += len(chunk)
                newlines += chunk.count(b"\n")
                if first_row is None and (
                    newlines >= 2 or b'"attempt_id"' in chunk or export_format == "xlsx"
                ):
                    first_row = time.perf_counter() - started
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        stop.set()
        await sampler
    peak = status_kb(pid, "VmHWM") if hwm_reset else peak_sampled
    rows = newlines - 1 if export_format == "csv" else float("nan")
    return {
        "rows": rows,
        "bytes": size,
        "seconds": elapsed,
        "ttfb": first_byte or elapsed,
        "first_row": first_row or elapsed,
        "rss_before_mb": before / 1024,
        "growth_mb": (max(peak, peak_sampled) - before) / 1024,
        "sampled_growth_mb": (peak_sampled - before) / 1024,
        "cpu": cpu,
    }


async def copy_only(args: argparse.Namespace) -> int:
    """The CSV COPY statement alone, as the service runs it, to a null sink (read only)."""
    from sqlalchemy.dialects import postgresql

    from qoach.dates import DateRange
    from qoach.exports.repository import ExportFilters, copy_params
    from qoach.exports.service import COPY_SETTINGS, _compiled_copy, _CopyText

    conn = await asyncpg.connect(db_url(args.database))
    try:
        start = await conn.fetchval(
            "SELECT completed_at FROM attempts WHERE company_id = $1 AND quiz_id = $2 "
            "ORDER BY completed_at DESC OFFSET $3 LIMIT 1",
            args.company_id,
            args.quiz_id,
            args.last_attempts - 1,
        )
        if start is None:
            raise SystemExit(f"quiz {args.quiz_id} has fewer than {args.last_attempts} attempts")
        filters = ExportFilters(
            DateRange(start, None), company_id=args.company_id, quiz_id=args.quiz_id
        )
        params = copy_params(filters)
        sql, names = _compiled_copy(postgresql.asyncpg.dialect(), frozenset(params))
        query_args = [params[name] for name in names]
        expected = await conn.fetchval(
            "SELECT SUM(question_count) FROM attempts "
            "WHERE company_id = $1 AND quiz_id = $2 AND completed_at >= $3",
            args.company_id,
            args.quiz_id,
            start,
        )
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        local = is_local(backend)
        print(
            f"COPY alone: company {args.company_id}, quiz {args.quiz_id}, from "
            f"{start.isoformat()} = {expected:,} rows; {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        rates = []
        for _ in range(args.runs):
            text = _CopyText()
            size = lines = 0

            async def sink(data: bytes | bytearray | memoryview) -> None:
                nonlocal size, lines
                chunk = text(data)  # noqa: B023 - a new converter per run, on purpose
                size += len(chunk)
                lines += chunk.count(b"\r\n")

            async with conn.transaction(isolation="repeatable_read", readonly=True):
                for setting in COPY_SETTINGS:
                    await conn.execute(setting)
                backend_cpu = cpu_seconds(backend) if local else 0.0
                own_cpu = time.process_time()
                started = time.perf_counter()
                await conn.copy_from_query(sql, *query_args, output=sink, format="binary")
                elapsed = time.perf_counter() - started
                own_cpu = time.process_time() - own_cpu
                backend_cpu = cpu_seconds(backend) - backend_cpu if local else float("nan")
            rates.append(expected / elapsed)
            print(
                f"{expected:,} rows ({lines:,} CRLF), {size / 2**20:,.1f} MiB in "
                f"{elapsed:.2f} s = {rates[-1]:,.0f} rows/s; backend CPU "
                f"{backend_cpu * 1e6 / expected:.2f} µs/row, this process "
                f"{own_cpu * 1e6 / expected:.2f} µs/row"
            )
        print(f"median of {args.runs}: {statistics.median(rates):,.0f} rows/s")
        return 0
    finally:
        await conn.close()


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=10, help="per quiz (rows per attempt)")
    parser.add_argument("--quizzes", type=int, default=20)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--formats", default="csv", help="comma-separated: csv,json,xlsx")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--database", help="reuse a database kept by an earlier --keep run")
    parser.add_argument("--runs", type=int, default=1, help="exports per format (median shown)")
    parser.add_argument(
        "--copy-only", action="store_true", help="the CSV COPY query alone on --database"
    )
    parser.add_argument("--company-id", type=int, default=1, help="--copy-only filter")
    parser.add_argument("--quiz-id", type=int, default=1, help="--copy-only filter")
    parser.add_argument(
        "--last-attempts", type=int, default=50_000, help="--copy-only: the quiz's last N"
    )
    args = parser.parse_args()
    if args.copy_only:
        if not args.database:
            parser.error("--copy-only needs --database")
        return await copy_only(args)

    database = args.database or f"qoach_bench_{uuid.uuid4().hex[:8]}"
    keep = args.keep or bool(args.database)
    process = None
    try:
        if args.database:
            conn = await asyncpg.connect(db_url(database))
            total = await conn.fetchval("SELECT count(*) FROM attempt_answers")
            await conn.close()
        else:
            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f'CREATE DATABASE "{database}"')
            await admin.close()
            from qoach.db.migrate import upgrade

            await asyncio.to_thread(upgrade, db_url(database, "postgresql+asyncpg"))
            started = time.perf_counter()
            await load(
                database,
                members=args.members,
                quizzes=args.quizzes,
                questions=args.questions,
                attempts=args.attempts,
            )
            total = args.attempts * args.questions
            print(f"loaded {total:,} answer rows in {time.perf_counter() - started:.1f} s")
        token = await login(database, OWNER_ID)
        port = free_port()
        process = start_server(database, port)
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base, process)
        print(
            f"machine: {platform.node()} · {os.cpu_count()} cores · Python "
            f"{platform.python_version()} · PostgreSQL at {ADMIN_URL.rsplit('@', 1)[-1]}"
        )
        failed = False
        for export_format in (f.strip() for f in args.formats.split(",")):
            rates = []
            for _ in range(args.runs):
                r = await export_once(base, token, process.pid, export_format)
                rows = r["rows"] if export_format == "csv" else total
                ok = r["growth_mb"] <= TARGET_GROWTH_MB
                failed |= not ok
                rates.append(rows / r["seconds"])
                print(
                    f"{export_format:>4}: {rows:,.0f} rows, {r['bytes'] / 2**20:,.1f} MiB in "
                    f"{r['seconds']:.1f} s = {rates[-1]:,.0f} rows/s; "
                    f"TTFB {r['ttfb'] * 1000:.0f} ms, first row {r['first_row'] * 1000:.0f} ms; "
                    f"server CPU {r['cpu'] * 1e6 / rows:.2f} µs/row; "
                    f"server RSS {r['rss_before_mb']:.0f} MB "
                    f"+ peak growth {r['growth_mb']:.1f} MB "
                    f"(sampled {r['sampled_growth_mb']:.1f}) "
                    f"{'OK' if ok else 'OVER'} (target ≤ {TARGET_GROWTH_MB} MB)"
                )
            if args.runs > 1:
                median = statistics.median(rates)
                print(f"{export_format:>4}: median of {args.runs}: {median:,.0f} rows/s")
        return 1 if failed else 0
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        if not keep:
            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
        else:
            print(f"kept database {database}")


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
