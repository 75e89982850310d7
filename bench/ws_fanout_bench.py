"""WebSocket fan-out benchmark: how long one notification takes to reach N sockets.

Not a test. It creates a throwaway database (PostgreSQL by default, or SQLite with
`--embedded`), migrates it, bulk-loads one owner and `max(--sockets)` users (each
with a login) as members of companies sized to each `--sockets` value, starts ONE
app process under uvicorn, opens N sockets on `/ws/notifications` (one distinct
user each) and then, per round, has the owner create a quiz through
`POST /companies/{id}/quizzes`: the app inserts one `quiz_created` row per member,
commits, and publishes the fan-out (one broker message, through Redis or the
in-process broker with `--embedded`). The latency of a socket is the time from just
before the HTTP request is sent until that socket has the `notification` frame, so
it includes the request, the N-row insert and commit, the publish, the broker
round trip, the per-socket send, and this client reading the frame. Each round
also reports the server's CPU time (user + system) from request to last frame.

    .venv/bin/python bench/ws_fanout_bench.py                       # 1,000 and 5,000, PG + Redis
    .venv/bin/python bench/ws_fanout_bench.py --embedded            # SQLite + in-process broker
    .venv/bin/python bench/ws_fanout_bench.py --sockets 1000 --rounds 10
    .venv/bin/python bench/ws_fanout_bench.py --server-src /tmp/old/src   # another tree's server

The client (this process, uvloop) is a minimal WebSocket client on raw asyncio
protocols, so that reading 5,000 frames costs little; it is pinned to core 1 and
the server to core 0 (`--no-pin` to let them float; PostgreSQL and Redis float).
`ulimit -n` is raised to its hard limit here (the child inherits it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def pin(server_pid: int) -> str:
    """The server on core 0, this client on core 1 (PostgreSQL and Redis float)."""
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        return "not pinned (one core)"
    os.sched_setaffinity(server_pid, {0})
    os.sched_setaffinity(0, {1})
    return "server on core 0, client on core 1"


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


class RawSocket(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455) that costs the load generator little CPU:
    the handshake by hand, then frames parsed in `data_received`; it answers pings and
    inflates permessage-deflate frames, and timestamps each `notification` frame the
    moment its bytes are read."""

    def __init__(self, fleet: Fleet, request: bytes) -> None:
        self.fleet = fleet
        self.request = request
        self.transport: Any = None
        self.buffer = bytearray()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inflate: zlib._Decompress | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's TCPTransport: not an asyncio.Transport
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.opened.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            if not head.startswith("HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(head.split("\r\n", 1)[0]))
                return
            if "permessage-deflate" in head.lower():
                self.inflate = zlib.decompressobj(wbits=-15)
            self.opened.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            first, length = buffer[0], buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            opcode = first & 0x0F
            if opcode == 0x9:  # ping: answer with a masked pong
                self._send(0x8A, payload)
            elif opcode == 0x1:
                if first & 0x40 and self.inflate is not None:  # RSV1: compressed
                    payload = self.inflate.decompress(payload + b"\x00\x00\xff\xff")
                if b'"notification"' in payload[:40]:
                    self.fleet.arrived(time.perf_counter())

    def _send(self, opcode_byte: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes([opcode_byte, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x88, (1000).to_bytes(2, "big"))
            self.transport.close()


class Fleet:
    """N sockets; each records when it receives the current round's notification."""

    def __init__(self, base: str, tokens: list[str], *, deflate: bool) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.tokens = tokens
        self.deflate = deflate
        self.connections: list[RawSocket] = []
        self.arrivals: list[float] = []
        self.expected = 0
        self.complete = asyncio.Event()

    def _request(self, token: str) -> bytes:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET /ws/notifications?token={token} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.deflate:  # what browsers offer
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def open(self) -> float:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(token: str) -> RawSocket:
            async with gate:
                for attempt in range(5):
                    try:
                        _, protocol = await loop.create_connection(
                            lambda: RawSocket(self, self._request(token)), self.host, self.port
                        )
                        await asyncio.wait_for(protocol.opened, 60)
                        return protocol
                    except OSError:
                        if attempt == 4:
                            raise
                        await asyncio.sleep(0.5)
                raise AssertionError("unreachable")

        started = time.perf_counter()
        self.connections = list(await asyncio.gather(*(one(t) for t in self.tokens)))
        return time.perf_counter() - started

    def arrived(self, at: float) -> None:
        self.arrivals.append(at)
        if len(self.arrivals) >= self.expected:
            self.complete.set()

    def arm(self, count: int) -> None:
        self.arrivals = []
        self.expected = count
        self.complete = asyncio.Event()

    async def close(self) -> None:
        for connection in self.connections:
            connection.close()
        await asyncio.sleep(0.5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def run_size(
    base: str,
    owner_token: str,
    tokens: list[str],
    company_id: int,
    rounds: int,
    pid: int,
    *,
    deflate: bool,
    warmup: int,
) -> dict[str, object]:
    fleet = Fleet(base, tokens, deflate=deflate)
    rss_before = rss_mb(pid)
    connect_seconds = await fleet.open()
    await asyncio.sleep(1.0)  # let the server settle after the connection storm
    rss_connected = rss_mb(pid)
    latencies: list[float] = []
    per_round: list[tuple[float, float, float]] = []
    cpu_per_round: list[float] = []
    headers = {"Authorization": f"Bearer {owner_token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for number in range(1 - warmup, rounds + 1):  # rounds <= 0 warm up
            fleet.arm(len(tokens))
            body = {**QUIZ, "title": f"Bench round {number} ({len(tokens)})"}
            cpu_before = cpu_seconds(pid)
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
            round_cpu = cpu_seconds(pid) - cpu_before
            if number > 0:
                latencies.extend(round_latencies)
                cpu_per_round.append(round_cpu)
                per_round.append(
                    (
                        answered,
                        percentile(round_latencies, 50),
                        max(round_latencies),
                    )
                )
                print(
                    f"  round {number}: HTTP 201 after {answered * 1000:.0f} ms; "
                    f"first {min(round_latencies) * 1000:.0f} ms, "
                    f"p50 {percentile(round_latencies, 50) * 1000:.0f} ms, "
                    f"p99 {percentile(round_latencies, 99) * 1000:.0f} ms, "
                    f"last {max(round_latencies) * 1000:.0f} ms; "
                    f"server CPU {round_cpu * 1000:.0f} ms"
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
        "server_cpu_ms": statistics.median(cpu_per_round) * 1000,
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
        if args.server_src:
            env["PYTHONPATH"] = args.server_src
        process = start_server(env, port, deflate=args.deflate)
        pinned = pin(process.pid) if not args.no_pin else "not pinned"
        await wait_ready(base, process)
        mode = "SQLite + in-process broker" if args.embedded else "PostgreSQL + Redis"
        print(
            f"qoach WebSocket fan-out — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"{os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, {mode}, permessage-deflate "
            f"{'on' if args.deflate else 'off'}, {pinned}, nofile {nofile}, "
            f"{args.warmup} + {args.rounds} rounds, load {os.getloadavg()[0]:.1f}"
        )
        for size in sizes:
            print(f"{size} sockets:")
            results.append(
                await run_size(
                    base,
                    owner_token,
                    tokens[:size],
                    companies[size],
                    args.rounds,
                    process.pid,
                    deflate=args.deflate,
                    warmup=args.warmup,
                )
            )
        print()
        print(
            "| sockets | connect all | server RSS / socket | HTTP 201 (median) "
            "| p50 | p99 | max | server CPU / round (median) | delivered |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(
                f"| {r['sockets']:,} | {r['connect_seconds']:.1f} s "
                f"| {r['rss_kib_per_socket']:.0f} KiB | {r['http_ms']:.0f} ms "
                f"| {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | {r['max_ms']:.0f} ms "
                f"| {r['server_cpu_ms']:.0f} ms | {r['deliveries']:,}/{r['expected']:,} |"
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
        "--warmup",
        type=int,
        default=2,
        help="unmeasured rounds first: the first full garbage collection after the "
        "connection storm (~0.7 s at 5,000 sockets) lands in them",
    )
    parser.add_argument(
        "--embedded", action="store_true", help="SQLite + in-process broker instead of PG + Redis"
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="server accepts permessage-deflate and the client offers it, as browsers do "
        "(`qoach serve` turns it off)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the server to core 0 and this client to core 1",
    )
    parser.add_argument(
        "--server-src",
        help="run the server from this source tree (PYTHONPATH), e.g. an export of an "
        "older commit, to compare before / after with the same client",
    )
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    if args.server_src:
        args.server_src = str(Path(args.server_src).resolve())
    return args


if __name__ == "__main__":
    arguments = parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(arguments))
    else:
        uvloop.run(main(arguments))
