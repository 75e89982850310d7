"""SIGTERM to `qoach serve` under load: in-flight requests finish, nothing is half-written.

The production entry point (`qoach serve`, uvicorn with a 30 s graceful-shutdown
timeout) runs with attempt submissions in flight from several clients, plus two
requests held in flight on purpose: a CSV export of 10,000 rows read slowly by the
client, and an attempt whose body is only half sent. On SIGTERM the listening
socket closes at once (new connections are refused), both held requests complete
with their normal status once the client goes on, and the process exits 0.
Afterwards every acknowledged attempt is in the database with all its answers, and
nothing the clients were not told about was written.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time

import asyncpg
import httpx
import pytest

from tests.faults.conftest import Stack
from tests.faults.helpers import (
    LoadStats,
    attempts_in_database,
    build_world,
    connection_refused,
    create_quiz,
    raw_connect,
    read_body,
    read_head,
    read_response,
    request_head,
    submit_forever,
    wait_until_async,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

EXPORT_ATTEMPTS = 1_000
EXPORT_QUESTIONS = 10
EXIT_SECONDS = 20

_SEED = """
INSERT INTO attempts (quiz_id, quiz_version_id, company_id, user_id, quiz_version,
                      correct_count, question_count, completed_at)
SELECT $1, v.id, $2, $3, 1, $5, $5, now() - make_interval(secs => g)
FROM quiz_versions v, generate_series(1, $4) g WHERE v.quiz_id = $1
"""
_SEED_ANSWERS = """
INSERT INTO attempt_answers (attempt_id, question_id, selected_mask, is_correct)
SELECT a.id, q.id, 1, true
FROM attempts a JOIN questions q ON q.quiz_version_id = a.quiz_version_id
WHERE a.quiz_id = $1
"""


async def _seed_export(pg_url: str, quiz_id: int, company_id: int, user_id: int) -> None:
    conn = await asyncpg.connect(pg_url, timeout=10)
    try:
        async with conn.transaction():
            await conn.execute(
                _SEED, quiz_id, company_id, user_id, EXPORT_ATTEMPTS, EXPORT_QUESTIONS
            )
            await conn.execute(_SEED_ANSWERS, quiz_id)
    finally:
        await conn.close()


async def test_sigterm_under_load_drains_in_flight_requests_and_exits_0(stack: Stack) -> None:
    app = stack.app(via_cli=True)
    world = await build_world(app.base_url, members=4)
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as http:
        export_quiz = await create_quiz(
            http, world.owner, world.company_id, "Export drill", EXPORT_QUESTIONS
        )
    await _seed_export(stack.pg_url, export_quiz["id"], world.company_id, world.owner.id)

    stats = LoadStats()
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(
            submit_forever(app.base_url, world, member, stats, stop, stop_on_refused=True)
        )
        for member in world.members
    ]
    export_writer = attempt_writer = None
    try:
        await wait_until_async(lambda: len(stats.acknowledged) >= 20, 20, "load warms up")

        # held request 1: the export, read slowly
        export_reader, export_writer = await raw_connect(app.port, receive_buffer=4096)
        export_writer.write(
            request_head(
                "GET",
                f"/companies/{world.company_id}/export?format=csv&quiz_id={export_quiz['id']}",
                world.owner.headers,
            )
        )
        await export_writer.drain()
        export_status, export_headers = await read_head(export_reader)
        assert export_status == 200, export_headers

        # held request 2: an attempt with half its body sent
        body = json.dumps(world.submission).encode()
        attempt_reader, attempt_writer = await raw_connect(app.port)
        attempt_writer.write(
            request_head(
                "POST",
                f"/quizzes/{world.quiz_id}/attempts",
                {**world.members[0].headers, "Content-Type": "application/json"},
                len(body),
            )
            + body[: len(body) // 2]
        )
        await attempt_writer.drain()
        await asyncio.sleep(0.5)  # the server has read the request head

        in_flight_at_sigterm = stats.requests
        app.terminate()
        sigterm_at = time.monotonic()
        await wait_until_async(
            lambda: connection_refused(app.port), 5, "new connections refused after SIGTERM"
        )
        refused_after = time.monotonic() - sigterm_at
        await asyncio.sleep(1.0)
        assert app.alive, "the process must wait for the requests still in flight"

        attempt_writer.write(body[len(body) // 2 :])
        await attempt_writer.drain()
        held_attempt = await asyncio.wait_for(read_response(attempt_reader), 10)
        assert held_attempt.status == 201, held_attempt
        assert held_attempt.headers.get("connection") == "close"
        stats.acknowledged.add(json.loads(held_attempt.body)["id"])

        export_body = await asyncio.wait_for(read_body(export_reader, export_headers), 30)
        exit_code = await asyncio.to_thread(app.wait, EXIT_SECONDS)
        exited_after = time.monotonic() - sigterm_at
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
        for writer in (export_writer, attempt_writer):
            if writer is not None:
                writer.close()

    rows = list(csv.reader(io.StringIO(export_body.decode())))
    assert rows[0][0] == "attempt_id"
    assert len(rows) == 1 + EXPORT_ATTEMPTS * EXPORT_QUESTIONS
    assert all(len(row) == len(rows[0]) for row in rows)

    stored, partial = await attempts_in_database(stack.pg_url, world.quiz_id)
    print(
        f"\nSIGTERM: refused new connections after {refused_after:.2f} s, exited {exit_code} "
        f"after {exited_after:.1f} s; export {len(rows) - 1} rows complete; "
        f"{stats.summary()}; requests before SIGTERM={in_flight_at_sigterm} stored={len(stored)}"
    )
    assert exit_code == 0, app.log_tail()
    assert stats.other_5xx == 0 and stats.unavailable == 0, stats.summary()
    assert not stats.unexpected, stats.unexpected[:5]
    assert partial == [], f"attempts without their full set of answers: {partial[:20]}"
    assert stats.acknowledged <= stored, sorted(stats.acknowledged - stored)[:20]
    # nothing was written that the client was not told about
    assert stored == stats.acknowledged, sorted(stored - stats.acknowledged)[:20]
    assert "unhandled error" not in app.log_text(), app.log_tail()
