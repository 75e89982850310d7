"""WebSocket fan-out benchmark: how long one notification takes to reach N sockets.

Not a test. It creates a throwaway database (PostgreSQL by default, or SQLite with
`--embedded`), migrates it, bulk-loads one owner and `max(--sockets)` users (each
with a login) as members of companies sized to each `--sockets` value, starts ONE
app process under uvicorn, opens N sockets on `/ws/notifications` (one distinct
user each) and then, per round, has the owner create a quiz through
`POST /companies/{id}/quizzes`: the app inserts one `quiz_created` row per member,
commits, and publishes one message per member (through Redis, or the in-process
broker with `--embedded`). The latency of a socket is the time from just before the
HTTP request is sent until that socket has the `notification` frame, so it
includes the request, the N-row insert and commit, the publishes, the broker
round trip, the per-socket send, and this client reading N frames.

    .venv/bin/python bench/ws_fanout_bench.py                       # 1,000 and 5,000, PG + Redis
    .venv/bin/python bench/ws_fanout_bench.py --embedded            # SQLite + in-process broker
    .venv/bin/python bench/ws_fanout_bench.py --sockets 1000 --rounds 10

The client runs in this process (uvloop), the server in a child process; on a
2-core machine they share the cores, so the figures are an upper bound.
`ulimit -n` is raised to its hard limit here (the child inherits it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-access-secret-" + "x" * 40
REFRESH_SECRET = "bench-refresh-secret-" + "y" * 40
CONNECT_CONCURRENCY = 100

QUIZ = {
    "frequency_days": 7,
    "questions": [
        {
            "text": "Where is the exit?",
            "answers": [
                {"text": "Door", "is_correct": True},
                {"text": "Window", "is_correct": False},
            ],
        },
        {
            "text": "Which number to call?",
            "answers": [{"text": "112", "is_correct": True}, {"text": "0", "is_correct": False}],
        },
    ],
}


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pg_url(database: str, driver: str = "postgresql") -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', driver + '://', 1)}/{database}"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# ------------------------------------------------------------------------ loading


async def load(database_url: str, sizes: list[int]) -> tuple[str, list[str], dict[int, int]]:
    """Owner + max(sizes) users with one login each; one company per size.

    Returns (owner token, member tokens in user order, {size: company id}).
    """
    from sqlalchemy import insert

    from qoach.auth.tokens import encode_token, new_jti
    from qoach.config import Settings
    from qoach.db.engine import create_engine
    from qoach.models import AuthSession, Company, Membership, User

    settings = Settings(
        database_url=database_url, secret_key=SECRET, refresh_secret_key=REFRESH_SECRET
    )
    engine = create_engine(database_url, settings, pool=False)
    members = max(sizes)
    expires = datetime.now(UTC) + timedelta(days=1)
    try:
        async with engine.begin() as conn:
            user_rows = [
                {"email": f"user{i}@bench.example", "first_name": "Bench", "last_name": f"U{i}"}
                for i in range(members + 1)
            ]
            user_ids = list(
                (
                    await conn.execute(
                        insert(User).returning(User.id, sort_by_parameter_order=True), user_rows
                    )
                ).scalars()
            )
            session_ids = list(
                (
                    await conn.execute(
                        insert(AuthSession).returning(AuthSession.id, sort_by_parameter_order=True),
                        [
                            {"user_id": uid, "refresh_jti": new_jti(), "expires_at": expires}
                            for uid in user_ids
                        ],
                    )
                ).scalars()
            )
            owner_id, member_ids = user_ids[0], user_ids[1:]
            companies: dict[int, int] = {}
            for size in sorted(set(sizes)):
                company_id = (
                    await conn.execute(
                        insert(Company)
                        .values(name=f"Bench {size}", is_visible=True)
                        .returning(Company.id)
                    )
                ).scalar_one()
                companies[size] = company_id
                await conn.execute(
                    insert(Membership),
                    [{"company_id": company_id, "user_id": owner_id, "role": "owner"}]
                    + [
                        {"company_id": company_id, "user_id": uid, "role": "member"}
                        for uid in member_ids[:size]
                    ],
                )
        tokens = [
            encode_token(settings, token_type="access", user_id=uid, session_id=sid)[0]
            for uid, sid in zip(user_ids, session_ids, strict=True)
        ]
        return tokens[0], tokens[1:], companies
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------- server


def start_server(env: dict[str, str], port: int, *, deflate: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "qoach.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--backlog",
            "4096",
            "--no-access-log",
            "--ws-per-message-deflate",
            "true" if deflate else "false",
        ],
        cwd=ROOT,
        env=env,
    )


async def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the app process exited")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("the app process did not start")


# ------------------------------------------------------------------------- client


class Fleet:
    """N sockets; each records when it receives the current round's notification."""

    def __init__(self, ws_base: str, tokens: list[str]) -> None:
        self.ws_base = ws_base
        self.tokens = tokens
        self.connections: list[object] = []
        self.readers: list[asyncio.Task[None]] = []
        self.arrivals: list[float] = []
        self.expected = 0
        self.complete = asyncio.Event()

    async def open(self) -> float:
        from websockets.asyncio.client import connect

        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(token: str) -> object:
            async with gate:
                for attempt in range(5):
                    try:
                        return await connect(
                            f"{self.ws_base}?token={token}",
                            open_timeout=60,
                            ping_interval=None,
                            max_queue=64,
                        )
                    except OSError:
                        if attempt == 4:
                            raise
                        await asyncio.sleep(0.5)
                raise AssertionError("unreachable")

        started = time.perf_counter()
        self.connections = list(await asyncio.gather(*(one(t) for t in self.tokens)))
        elapsed = time.perf_counter() - started
        self.readers = [asyncio.create_task(self._read(c)) for c in self.connections]
        return elapsed

    async def _read(self, conn: object) -> None:
        with contextlib.suppress(Exception):
            async for raw in conn:  # type: ignore[attr-defined]
                if '"notification"' not in raw[:40]:
                    continue  # pings
                self.arrivals.append(time.perf_counter())
                if len(self.arrivals) >= self.expected:
                    self.complete.set()

    def arm(self, count: int) -> None:
        self.arrivals = []
        self.expected = count
        self.complete = asyncio.Event()

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        await asyncio.gather(
            *(c.close() for c in self.connections),  # type: ignore[attr-defined]
            return_exceptions=True,
        )


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def run_size(
    base: str, owner_token: str, tokens: list[str], company_id: int, rounds: int, pid: int
) -> dict[str, object]:
    fleet = Fleet(base.replace("http", "ws", 1) + "/ws/notifications", tokens)
    rss_before = rss_mb(pid)
    connect_seconds = await fleet.open()
    await asyncio.sleep(1.0)  # let the server settle after the connection storm
    rss_connected = rss_mb(pid)
    latencies: list[float] = []
    per_round: list[tuple[float, float, float]] = []
    headers = {"Authorization": f"Bearer {owner_token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for number in range(rounds + 1):  # round 0 warms up
            fleet.arm(len(tokens))
            body = {**QUIZ, "title": f"Bench round {number} ({len(tokens)})"}
            sent = time.perf_counter()
            response = await http.post(
                f"/companies/{company_id}/quizzes", json=body, headers=headers
            )
            response.raise_for_status()
            answered = time.perf_counter() - sent
            try:
                await asyncio.wait_for(fleet.complete.wait(), 60)
            except TimeoutError:
                print(f"  round {number}: only {len(fleet.arrivals)}/{len(tokens)} arrived")
            round_latencies = [t - sent for t in fleet.arrivals]
            if number > 0:
                latencies.extend(round_latencies)
                per_round.append(
                    (
                        answered,
                        percentile(round_latencies, 50),
                        max(round_latencies),
                    )
                )
                print(
                    f"  round {number}: HTTP 201 after {answered * 1000:.0f} ms; "
                    f"p50 {percentile(round_latencies, 50) * 1000:.0f} ms, "
                    f"p99 {percentile(round_latencies, 99) * 1000:.0f} ms, "
                    f"last {max(round_latencies) * 1000:.0f} ms"
                )
            await asyncio.sleep(0.5)
    await fleet.close()
    return {
        "sockets": len(tokens),
        "connect_seconds": connect_seconds,
        "deliveries": len(latencies),
        "expected": rounds * len(tokens),
        "http_ms": statistics.median(r[0] for r in per_round) * 1000,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "rss_kib_per_socket": (rss_connected - rss_before) * 1024 / len(tokens),
    }


# --------------------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> None:
    from qoach.db.migrate import upgrade

    nofile = raise_nofile()
    sizes = sorted(args.sockets)
    run_id = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix="qoach-ws-bench-"))
    database = f"qoach_ws_bench_{run_id}"
    if args.embedded:
        database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    else:
        import asyncpg

        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        database_url = pg_url(database, "postgresql+asyncpg")
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": "" if args.embedded else REDIS_URL,
        "REDIS_PREFIX": f"qoach-ws-bench-{run_id}",
        "SECRET_KEY": SECRET,
        "REFRESH_SECRET_KEY": REFRESH_SECRET,
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL_SIZE": "10",
    }
    os.environ.update(SECRET_KEY=SECRET, REFRESH_SECRET_KEY=REFRESH_SECRET)  # for `upgrade`
    process: subprocess.Popen[bytes] | None = None
    results = []
    try:
        await asyncio.to_thread(upgrade, database_url)
        owner_token, tokens, companies = await load(database_url, sizes)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = start_server(env, port, deflate=not args.no_deflate)
        await wait_ready(base, process)
        mode = "SQLite + in-process broker" if args.embedded else "PostgreSQL + Redis"
        print(
            f"qoach WebSocket fan-out — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"{os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, {mode}, permessage-deflate "
            f"{'off' if args.no_deflate else 'on'}, nofile {nofile}, {args.rounds} rounds"
        )
        for size in sizes:
            print(f"{size} sockets:")
            results.append(
                await run_size(
                    base, owner_token, tokens[:size], companies[size], args.rounds, process.pid
                )
            )
        print()
        print(
            "| sockets | connect all | server RSS / socket | HTTP 201 (median) "
            "| p50 | p99 | max | delivered |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(
                f"| {r['sockets']:,} | {r['connect_seconds']:.1f} s "
                f"| {r['rss_kib_per_socket']:.0f} KiB | {r['http_ms']:.0f} ms "
                f"| {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | {r['max_ms']:.0f} ms "
                f"| {r['deliveries']:,}/{r['expected']:,} |"
            )
        if args.json:
            print(json.dumps(results))
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.embedded:
            import asyncpg

            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--embedded", action="store_true", help="SQLite + in-process broker instead of PG + Redis"
    )
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="start uvicorn with --ws-per-message-deflate false (browsers offer it; by "
        "default the server accepts it, as `qoach serve` does)",
    )
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(arguments))
    else:
        uvloop.run(main(arguments))
