"""The reference route of the benchmarks: a bare ASGI callable, one raw asyncpg query.

No framework, no ORM, no auth: `GET /ref/quiz/{id}` selects one `quizzes` row by
primary key through an asyncpg pool and answers it as JSON. It is what "FastAPI +
one indexed PostgreSQL query" costs without any of our work, served by the same
uvicorn (uvloop + httptools) on the same core, so our routes are reported as a
ratio to it and the ratio survives a noisy shared machine.

    REF_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/qoach_bench \\
        taskset -c 0 .venv/bin/uvicorn reference_app:app --app-dir bench --port 8101
"""

from __future__ import annotations

import json
import os
from typing import Any

import asyncpg

_QUERY = (
    "SELECT id, company_id, title, description, frequency_days, version, created_at, updated_at "
    "FROM quizzes WHERE id = $1"
)
_pool: asyncpg.Pool | None = None


async def _send_json(send: Any, status: int, payload: Any) -> None:
    body = json.dumps(payload, default=str, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                url = os.environ.get(
                    "REF_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/qoach_bench"
                )
                _pool = await asyncpg.create_pool(url, min_size=2, max_size=10)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _pool is not None:
                    await _pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    if path == "/":
        await _send_json(send, 200, {"status": "ok"})
        return
    if not path.startswith("/ref/quiz/") or not path[10:].isdigit():
        await _send_json(send, 404, {"detail": "Not found", "code": "not_found"})
        return
    assert _pool is not None
    async with _pool.acquire() as conn:
        row = await conn.fetchrow(_QUERY, int(path[10:]))
    if row is None:
        await _send_json(send, 404, {"detail": "Quiz not found", "code": "not_found"})
        return
    await _send_json(send, 200, dict(row))
