"""Double submits against a real server process, on separate connections at once.

In-process versions (ASGI transport; the forced unique-index race on PostgreSQL)
are in tests/attempts/test_idempotency.py; here the requests race through uvicorn
and the connection pool of a separate process, as double clicks from a browser do.
"""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from tests.faults.conftest import Stack
from tests.faults.helpers import World, attempts_in_database, build_world

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

TWINS = 8


async def _burst(base_url: str, world: World, key: str | None) -> list[httpx.Response]:
    """TWINS identical submissions, each on its own connection, released together."""
    headers = dict(world.members[0].headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    clients = [httpx.AsyncClient(base_url=base_url, timeout=30) for _ in range(TWINS)]
    try:
        for http in clients:  # connections open before the burst
            assert (await http.get("/")).status_code == 200
        return await asyncio.gather(
            *(
                http.post(
                    f"/quizzes/{world.quiz_id}/attempts", json=world.submission, headers=headers
                )
                for http in clients
            )
        )
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))


async def test_concurrent_double_submits_through_a_real_server(stack: Stack) -> None:
    app = stack.app()
    world = await build_world(app.base_url, members=1)

    without_key = await _burst(app.base_url, world, None)
    assert [r.status_code for r in without_key] == [201] * TWINS, [r.text for r in without_key]
    separate = {r.json()["id"] for r in without_key}
    assert len(separate) == TWINS  # no key: each submission is an attempt of its own

    with_key = await _burst(app.base_url, world, "double-click")
    assert [r.status_code for r in with_key] == [201] * TWINS, [r.text for r in with_key]
    assert all(r.json() == with_key[0].json() for r in with_key)
    keyed_id = with_key[0].json()["id"]

    stored, partial = await attempts_in_database(stack.pg_url, world.quiz_id)
    assert stored == separate | {keyed_id}
    assert partial == []  # every attempt has all its answers
    conn = await asyncpg.connect(stack.pg_url, timeout=10)
    try:
        keyed = await conn.fetchval(
            "SELECT count(*) FROM attempts WHERE user_id = $1 AND idempotency_key = $2",
            world.members[0].id,
            "double-click",
        )
    finally:
        await conn.close()
    assert keyed == 1
