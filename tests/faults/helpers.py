"""Throwaway PostgreSQL, Redis and app processes for the fault tests, and an API client.

Every server here is private to the test run (its own data directory, its own free
port), so stopping or killing one never touches the machine's shared services.
Every wait is bounded; `close()` always ends what `start()` began.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "fault-test-password"
_emails = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {within:.0f} s")
        time.sleep(0.05)


def _tail(path: Path, lines: int = 60) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def find_pg_bin() -> Path:
    """The directory of `initdb` / `pg_ctl`: $QOACH_PG_BIN, PATH, or the newest Debian one."""
    configured = os.environ.get("QOACH_PG_BIN")
    if configured:
        return Path(configured)
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        raise RuntimeError(
            "the fault tests start their own PostgreSQL: install the server binaries "
            "(apt-get install postgresql) or set QOACH_PG_BIN to the directory of pg_ctl"
        )
    return Path(found[-1]).parent


def find_redis_server() -> str:
    path = os.environ.get("QOACH_REDIS_SERVER") or shutil.which("redis-server")
    if not path:
        raise RuntimeError(
            "the fault tests start their own Redis: install redis-server "
            "(apt-get install redis-server) or set QOACH_REDIS_SERVER"
        )
    return path


class PostgresServer:
    """A private PostgreSQL cluster (initdb in a temp dir, trust auth, 127.0.0.1 only).

    PostgreSQL refuses to run as root, so as root the cluster belongs to (and runs
    as) the `postgres` OS user.
    """

    def __init__(self) -> None:
        self.bin = find_pg_bin()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="qoach-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, user="postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{_tail(self.log)}"
            )

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        # fsync off: the faults here kill processes, never the machine, and a
        # committed transaction is in the kernel's page cache either way
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash: no checkpoint, connections cut, recovery on start."""
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"
        )

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and port_open(self.port)

    def ensure_running(self) -> None:
        if not self.running:
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")  # a stale pid file after a failed test
            self.start()

    def url(self, driver: str = "postgresql+asyncpg", database: str = "postgres") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A private `redis-server` (no persistence) on a fixed free port; killable, restartable."""

    def __init__(self) -> None:
        self.binary = find_redis_server()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="qoach-faults-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        process = self.process
        wait_for(
            lambda: process.poll() is not None or port_open(self.port), 15, "redis-server start"
        )
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{_tail(self.dir / 'redis.log')}")

    def kill(self) -> None:
        """SIGKILL: Redis dies without closing its clients' connections cleanly."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def migrate(database_url: str) -> None:
    """`python -m qoach.cli migrate` against `database_url`, as a deployment would."""
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "qoach.cli", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{result.stdout}\n{result.stderr}")


class AppServer:
    """The app in its own process: plain uvicorn, or `qoach serve` (the production path)."""

    def __init__(self, env: dict[str, str], *, via_cli: bool = False) -> None:
        self.port = free_port()
        self.env = env
        self.via_cli = via_cli
        self.dir = Path(tempfile.mkdtemp(prefix="qoach-faults-app-"))
        self.log = self.dir / "app.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/notifications"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        if self.via_cli:
            return [sys.executable, "-m", "qoach.cli", "serve", "--port", str(self.port)]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "qoach.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]

    def start(self, within: float = 45) -> None:
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=log
        )
        log.close()
        process = self.process

        def ready() -> bool:
            if process.poll() is not None:
                return True
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(self.base_url + "/", timeout=1).status_code == 200
            return False

        wait_for(ready, within, f"app start\n{self.log_tail()}")
        if process.poll() is not None:
            raise RuntimeError(f"the app exited ({process.returncode}):\n{self.log_tail()}")

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, within: float) -> int:
        assert self.process is not None
        return self.process.wait(within)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log, lines)

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")
        return ""

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if os.environ.get("QOACH_FAULTS_KEEP_LOGS"):
            print(f"app log kept: {self.log}")
            return
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the API, as a client sees it -------------------------------------------------


@dataclass
class Person:
    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    """A company with an owner, members and one quiz, created through the API."""

    owner: Person
    members: list[Person]
    company_id: int
    quiz_id: int
    question_ids: list[int]
    answers: list[dict[str, Any]]  # one valid submission body's `answers`

    @property
    def submission(self) -> dict[str, Any]:
        return {"answers": self.answers}


def quiz_body(title: str, questions: int = 2) -> dict[str, Any]:
    return {
        "title": title,
        "frequency_days": 7,
        "questions": [
            {
                "text": f"Question {i + 1}?",
                "answers": [
                    {"text": f"Right {i + 1}", "is_correct": True},
                    {"text": f"Wrong {i + 1}", "is_correct": False},
                    {"text": f"Other {i + 1}", "is_correct": False},
                ],
            }
            for i in range(questions)
        ],
    }


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.text)
    body: dict[str, Any] = response.json() if response.content else {}
    return body


async def person(http: httpx.AsyncClient) -> Person:
    email = f"fault-{os.getpid()}-{next(_emails)}-{time.monotonic_ns()}@example.com"
    user = expect(
        await http.post("/auth/register", json={"email": email, "password": PASSWORD}), 201
    )
    tokens = expect(
        await http.post("/auth/login", json={"email": email, "password": PASSWORD}), 200
    )
    return Person(user["id"], email, tokens["access_token"])


async def create_quiz(
    http: httpx.AsyncClient, owner: Person, company_id: int, title: str, questions: int = 2
) -> dict[str, Any]:
    return expect(
        await http.post(
            f"/companies/{company_id}/quizzes",
            json=quiz_body(title, questions),
            headers=owner.headers,
        ),
        201,
    )


async def build_world(base_url: str, members: int = 4, questions: int = 2) -> World:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        owner = await person(http)
        people = [await person(http) for _ in range(members)]
        company = expect(
            await http.post(
                "/companies", json={"name": f"Faults {owner.id}"}, headers=owner.headers
            ),
            201,
        )
        for member in people:
            invitation = expect(
                await http.post(
                    f"/companies/{company['id']}/invitations",
                    json={"user_id": member.id},
                    headers=owner.headers,
                ),
                201,
            )
            expect(
                await http.post(f"/invitations/{invitation['id']}/accept", headers=member.headers),
                200,
            )
        quiz = await create_quiz(http, owner, company["id"], "Fault drill", questions)
    answers = [
        {
            "question_id": question["id"],
            "answer_ids": [a["id"] for a in question["answers"] if a["is_correct"]],
        }
        for question in quiz["questions"]
    ]
    return World(
        owner=owner,
        members=people,
        company_id=company["id"],
        quiz_id=quiz["id"],
        question_ids=[q["id"] for q in quiz["questions"]],
        answers=answers,
    )


# --- load --------------------------------------------------------------------------


@dataclass
class LoadStats:
    """What a client saw: every status, every acknowledged attempt id, every oddity."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    acknowledged: set[int] = field(default_factory=set)
    transport_errors: Counter[str] = field(default_factory=Counter)
    bad_503: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    last_201_at: float = 0.0

    @property
    def unavailable(self) -> int:
        return self.statuses[503]

    @property
    def other_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)

    def summary(self) -> str:
        return (
            f"requests={self.requests} statuses={dict(self.statuses)} "
            f"acknowledged={len(self.acknowledged)} transport_errors={dict(self.transport_errors)} "
            f"bad_503={self.bad_503[:3]} unexpected={self.unexpected[:3]}"
        )


def check_unavailable(response: httpx.Response) -> str | None:
    """Why a 503 breaks the contract (`Retry-After`, `{detail, code}`), or None."""
    retry_after = response.headers.get("Retry-After", "")
    if not retry_after.isdigit():
        return f"503 without a numeric Retry-After: {dict(response.headers)}"
    try:
        body = response.json()
    except ValueError:
        return f"503 body is not JSON: {response.text[:200]}"
    if set(body) != {"detail", "code"} or body["code"] != "service_unavailable":
        return f"503 body {body}"
    return None


def record(stats: LoadStats, response: httpx.Response, *, created: int = 201) -> None:
    stats.statuses[response.status_code] += 1
    if response.status_code == created:
        stats.acknowledged.add(response.json()["id"])
        stats.last_201_at = time.monotonic()
    elif response.status_code == 503:
        problem = check_unavailable(response)
        if problem:
            stats.bad_503.append(problem)
    else:
        stats.unexpected.append(f"{response.status_code} {response.text[:300]}")


async def submit_forever(
    base_url: str,
    world: World,
    member: Person,
    stats: LoadStats,
    stop: asyncio.Event,
    *,
    pause: float = 0.01,
    stop_on_refused: bool = False,
) -> None:
    """Submit attempts as `member` over one keep-alive client until `stop` is set."""
    url = f"/quizzes/{world.quiz_id}/attempts"
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
        while not stop.is_set():
            stats.requests += 1
            try:
                response = await http.post(url, json=world.submission, headers=member.headers)
            except httpx.TransportError as exc:
                stats.transport_errors[type(exc).__name__] += 1
                if stop_on_refused and isinstance(exc, httpx.ConnectError):
                    return
                await asyncio.sleep(0.05)
                continue
            record(stats, response)
            await asyncio.sleep(pause)


async def wait_until_async(
    predicate: Callable[[], Any], within: float, what: str, every: float = 0.1
) -> None:
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {within:.0f} s")
        await asyncio.sleep(every)


# --- the database, checked directly ------------------------------------------------


async def attempts_in_database(
    pg_url: str, quiz_id: int
) -> tuple[set[int], list[tuple[int, int, int]]]:
    """(every attempt id of the quiz, [(id, question_count, answer rows)] where they differ)."""
    import asyncpg

    conn = await asyncpg.connect(pg_url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT a.id, a.question_count, count(aa.attempt_id) AS answers "
            "FROM attempts a LEFT JOIN attempt_answers aa ON aa.attempt_id = a.id "
            "WHERE a.quiz_id = $1 GROUP BY a.id, a.question_count",
            quiz_id,
        )
    finally:
        await conn.close()
    ids = {row["id"] for row in rows}
    partial = [
        (row["id"], row["question_count"], row["answers"])
        for row in rows
        if row["answers"] != row["question_count"]
    ]
    return ids, partial


def ids_of(items: Sequence[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


# --- notifications over the WebSocket ---------------------------------------------


class Socket:
    """A `/ws/notifications` client that skips heartbeats."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def next(self, within: float) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                message: dict[str, Any] = json.loads(await self.conn.recv())
                if message["type"] != "ping":
                    return message

    async def notification_ids(self, within: float) -> list[int]:
        """Every notification id that arrives within `within` seconds."""
        ids: list[int] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while True:
                    message = await self.next(within)
                    assert message["type"] == "notification", message
                    ids.append(message["data"]["id"])
        return ids


@contextlib.asynccontextmanager
async def open_socket(url: str, token: str, since: int | None = None) -> AsyncIterator[Socket]:
    from websockets.asyncio.client import connect

    query = {"token": token} if since is None else {"token": token, "since": str(since)}
    async with connect(f"{url}?{urlencode(query)}", open_timeout=10, close_timeout=2) as conn:
        yield Socket(conn)


# --- raw HTTP/1.1, for requests held in flight --------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_connect(port: int, *, receive_buffer: int | None = None) -> tuple[Any, Any]:
    """A plain TCP connection; a small `receive_buffer` makes a big response back up
    into the server instead of landing in this side's kernel buffers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 5
        )
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, limit=16 * 1024)


def request_head(
    method: str, path: str, headers: dict[str, str], length: int | None = None
) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_head(reader: Any) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


async def read_body(reader: Any, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return bytes(await reader.readexactly(int(headers["content-length"])))
    assert headers.get("transfer-encoding") == "chunked", headers
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers: the final CRLF
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def read_response(reader: Any) -> RawResponse:
    status, headers = await read_head(reader)
    return RawResponse(status, headers, await read_body(reader, headers))


def connection_refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0
