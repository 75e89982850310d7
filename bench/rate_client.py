"""A constant-rate (open-model) HTTP/1.1 load client: latency at a fixed offered rate.

wrk is a closed-loop client: when the server slows down, wrk slows down with it and
the latency it reports hides the queue. This client sends request i at
`start + i / rate` whatever happened before, and measures each latency from that
*intended* send time (as wrk2 does), so a stall shows up in the percentiles instead
of disappearing ("coordinated omission").

Raw asyncio streams on uvloop, keep-alive connections opened on demand (up to
`max_connections`), pre-built request bytes: ~40-80 µs of client CPU per request,
so one core drives a few thousand req/s. The runner pins it with `taskset -c 1`.
Its own CPU time is reported so that a saturated client can be told apart from a
slow server.

    python bench/rate_client.py spec.json      # prints one JSON object

spec.json:

    {"host": "127.0.0.1", "port": 8100, "duration": 15,
     "streams": [{"name": "submit", "rate": 700, "once": false, "max_connections": 256,
                  "requests": [{"method": "POST", "path": "/quizzes/1/attempts",
                                "headers": {"Authorization": "Bearer ..."}, "body": "{...}"}]}]}

Streams run at the same time, each at its own rate, cycling through its requests;
with `"once": true` each request is sent exactly once (the stream lasts
len(requests) / rate seconds).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from dataclasses import dataclass, field
from typing import Any


def build_request(
    host: str, method: str, path: str, headers: dict[str, str], body: str | None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    payload = b""
    if body is not None:
        payload = body.encode()
        if not any(name.lower() == "content-type" for name in headers):
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, raw: bytes) -> tuple[int, bool]:
        """(status, keep the connection)."""
        self.writer.write(raw)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split(b" ", 2)[1])
        length = -1
        chunked = False
        keep = True
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                keep = False
        if chunked:
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length >= 0:
            await self.reader.readexactly(length)
        else:
            await self.reader.read()
            keep = False
        return status, keep

    def close(self) -> None:
        self.writer.close()


@dataclass
class _Stream:
    name: str
    rate: float
    requests: list[bytes]
    once: bool
    max_connections: int
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    idle: list[_Conn] = field(default_factory=list)
    open: int = 0
    waiters: list[asyncio.Future[_Conn | None]] = field(default_factory=list)
    sent: int = 0
    finished_at: float = 0.0


async def _acquire(stream: _Stream, host: str, port: int) -> _Conn | None:
    while stream.idle:
        conn = stream.idle.pop()
        if not conn.reader.at_eof():
            return conn
        # the server closed it while it sat idle (its keep-alive timeout): as any HTTP
        # client does, do not send on it
        conn.close()
        stream.open -= 1
    if stream.open < stream.max_connections:
        stream.open += 1
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            stream.open -= 1
            raise
        return _Conn(reader, writer)
    waiter: asyncio.Future[_Conn | None] = asyncio.get_running_loop().create_future()
    stream.waiters.append(waiter)
    return await waiter


def _release(stream: _Stream, conn: _Conn | None) -> None:
    if conn is None:
        stream.open -= 1
        if stream.waiters:  # let a waiter open a new one
            stream.open += 1
            stream.waiters.pop(0).set_result(None)
        return
    if stream.waiters:
        stream.waiters.pop(0).set_result(conn)
    else:
        stream.idle.append(conn)


async def _one(stream: _Stream, host: str, port: int, raw: bytes, intended: float) -> None:
    loop = asyncio.get_running_loop()
    conn: _Conn | None = None
    try:
        conn = await _acquire(stream, host, port)
        if conn is None:
            reader, writer = await asyncio.open_connection(host, port)
            conn = _Conn(reader, writer)
        status, keep = await conn.send(raw)
        stream.latencies.append(loop.time() - intended)
        key = str(status)
        stream.statuses[key] = stream.statuses.get(key, 0) + 1
        if not keep:
            conn.close()
            conn = None
    except Exception as exc:
        stream.errors += 1
        kind = type(exc).__name__
        stream.error_kinds[kind] = stream.error_kinds.get(kind, 0) + 1
        if conn is not None:
            conn.close()
            conn = None
    finally:
        _release(stream, conn)
        stream.finished_at = loop.time()


async def _drive(stream: _Stream, host: str, port: int, duration: float, start: float) -> None:
    loop = asyncio.get_running_loop()
    total = len(stream.requests) if stream.once else int(duration * stream.rate)
    tasks: set[asyncio.Task[None]] = set()
    for i in range(total):
        intended = start + i / stream.rate
        delay = intended - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        raw = stream.requests[i % len(stream.requests)]
        task = loop.create_task(_one(stream, host, port, raw, intended))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        stream.sent += 1
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    for conn in stream.idle:
        conn.close()


def _pct(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index] * 1000


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    host, port = spec.get("host", "127.0.0.1"), int(spec["port"])
    duration = float(spec.get("duration", 15))
    streams = [
        _Stream(
            name=s["name"],
            rate=float(s["rate"]),
            requests=[
                build_request(
                    host, r.get("method", "GET"), r["path"], r.get("headers", {}), r.get("body")
                )
                for r in s["requests"]
            ],
            once=bool(s.get("once", False)),
            max_connections=int(s.get("max_connections", 256)),
        )
        for s in spec["streams"]
    ]
    loop = asyncio.get_running_loop()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = loop.time() + 0.2
    await asyncio.gather(*(_drive(s, host, port, duration, start) for s in streams))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    out: dict[str, Any] = {"client_cpu_s": round(cpu, 3), "streams": {}}
    for s in streams:
        lat = sorted(s.latencies)
        elapsed = max(s.finished_at - start, 1e-9)
        ok = sum(n for code, n in s.statuses.items() if code.startswith("2"))
        out["streams"][s.name] = {
            "offered_rate": s.rate,
            "sent": s.sent,
            "completed": len(lat),
            "ok": ok,
            "achieved_rate": round(len(lat) / elapsed, 1),
            "statuses": s.statuses,
            "errors": s.errors,
            "error_kinds": s.error_kinds,
            "connections": s.open,
            "p50_ms": _pct(lat, 50),
            "p95_ms": _pct(lat, 95),
            "p99_ms": _pct(lat, 99),
            "max_ms": lat[-1] * 1000 if lat else None,
        }
    return out


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    try:
        import uvloop

        result = uvloop.run(run(spec))
    except ImportError:
        result = asyncio.run(run(spec))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
