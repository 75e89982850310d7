"""PostgreSQL goes away under load: 503 + Retry-After (never 500), then the same process recovers.

A client loop submits attempts as several members and keeps every id it got a 201
for. PostgreSQL is stopped twice in the middle of the load — `pg_ctl -m immediate`
(a crash: connections cut, recovery on start) and `-m fast` (connections told
"terminating connection due to administrator command") — and started again a few
seconds later each time. Nothing acknowledged may be missing afterwards, and no
attempt may be half-written.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest

from tests.faults.conftest import Stack
from tests.faults.helpers import (
    AppServer,
    LoadStats,
    World,
    attempts_in_database,
    build_world,
    check_unavailable,
    submit_forever,
    wait_until_async,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

RECOVERY_SECONDS = 15
MIN_OUTAGE_SECONDS = 2.0


async def _outage(stack: Stack, app: AppServer, stats: LoadStats, mode: str) -> dict[str, float]:
    """Stop PostgreSQL under load, check the 503s and the health report, start it again."""
    before = stats.unavailable
    await asyncio.to_thread(stack.pg.stop, mode)
    down_at = time.monotonic()
    await wait_until_async(
        lambda: (
            stats.unavailable >= before + 10 and time.monotonic() - down_at >= MIN_OUTAGE_SECONDS
        ),
        15,
        f"503s while PostgreSQL is down ({stats.summary()})",
    )
    async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as http:
        health = await http.get("/health/all")
        db_health = await http.get("/health/db")
        redis_health = await http.get("/health/redis")
    assert health.status_code == 503, health.text
    assert health.json()["status"] == "degraded"
    assert health.json()["database"]["status"] == "error"
    assert health.json()["database"]["error"]
    assert health.json()["redis"]["status"] == "ok"
    assert db_health.status_code == 503 and db_health.json()["status"] == "error"
    assert redis_health.status_code == 200

    await asyncio.to_thread(stack.pg.start)
    restarted_at = time.monotonic()
    await wait_until_async(
        lambda: stats.last_201_at > restarted_at,
        RECOVERY_SECONDS,
        f"the same process serves again after the restart ({stats.summary()})",
    )
    recovered = stats.last_201_at - restarted_at
    acknowledged = len(stats.acknowledged)
    await wait_until_async(
        lambda: len(stats.acknowledged) >= acknowledged + 10, 15, "load after recovery"
    )
    return {"outage": restarted_at - down_at, "recovered": recovered}


async def test_postgres_stops_under_load_503_then_recovers_losing_nothing(stack: Stack) -> None:
    app = stack.app()
    pid = app.pid
    world = await build_world(app.base_url, members=4)
    stats = LoadStats()
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(submit_forever(app.base_url, world, member, stats, stop))
        for member in world.members
    ]
    try:
        await wait_until_async(lambda: len(stats.acknowledged) >= 20, 20, "load warms up")
        crash = await _outage(stack, app, stats, "immediate")
        shutdown = await _outage(stack, app, stats, "fast")
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)

    assert app.alive and app.pid == pid, app.log_tail()
    async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as http:
        health = await http.get("/health/all")
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text

    stored, partial = await attempts_in_database(stack.pg_url, world.quiz_id)
    lost = stats.acknowledged - stored
    print(
        f"\nPostgreSQL stopped 2x (immediate: {crash}, fast: {shutdown}); {stats.summary()}; "
        f"stored={len(stored)} lost={len(lost)}"
    )
    assert stats.other_5xx == 0, (stats.summary(), app.log_tail())
    assert not stats.bad_503, stats.bad_503[:5]
    assert not stats.unexpected, stats.unexpected[:5]
    # a 503 answers on the same keep-alive connection: none is dropped under the client
    assert not stats.transport_errors, stats.summary()
    assert stats.unavailable > 0
    assert lost == set(), f"acknowledged but missing: {sorted(lost)[:20]}"
    assert partial == [], f"attempts without their full set of answers: {partial[:20]}"
    # a request whose COMMIT was in flight when the server died may have committed
    # without its 201 reaching the client (the client saw 503): at most one per worker
    # and outage
    assert len(stored - stats.acknowledged) <= 2 * len(workers)
    log = app.log_text()
    assert "unhandled error" not in log and "Exception in ASGI application" not in log, log[-3000:]


_DIE_AT_COMMIT = """
CREATE OR REPLACE FUNCTION qoach_faults_die_at_commit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.idempotency_key = 'die-at-commit' THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
        PERFORM pg_sleep(5);
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS qoach_faults_die_at_commit ON attempts;
CREATE CONSTRAINT TRIGGER qoach_faults_die_at_commit AFTER INSERT ON attempts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION qoach_faults_die_at_commit();
"""


async def _submit(http: httpx.AsyncClient, world: World, key: str) -> httpx.Response:
    return await http.post(
        f"/quizzes/{world.quiz_id}/attempts",
        json=world.submission,
        headers={**world.members[0].headers, "Idempotency-Key": key},
    )


async def test_connection_lost_during_the_commit_is_503_and_writes_nothing(
    stack: Stack,
) -> None:
    """The route succeeded; SessionDep's COMMIT loses its connection: 503, no attempt.

    A deferred constraint trigger (in this private database only) terminates its own
    backend while COMMIT runs, so the failure happens exactly in the dependency's
    commit, after the route returned.
    """
    app = stack.app()
    world = await build_world(app.base_url, members=1)
    conn = await asyncpg.connect(stack.pg_url, timeout=10)
    try:
        await conn.execute(_DIE_AT_COMMIT)
        async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as http:
            died = await _submit(http, world, "die-at-commit")
            # the same keep-alive connection, and a fresh pooled database connection
            after = await _submit(http, world, "after-the-commit-died")
            retried = await _submit(http, world, "die-at-commit")
    finally:
        await conn.execute(
            "DROP TRIGGER IF EXISTS qoach_faults_die_at_commit ON attempts;"
            "DROP FUNCTION IF EXISTS qoach_faults_die_at_commit()"
        )
        await conn.close()
    assert died.status_code == 503, died.text
    assert check_unavailable(died) is None, check_unavailable(died)
    assert after.status_code == 201, after.text
    assert retried.status_code == 503, retried.text
    stored, partial = await attempts_in_database(stack.pg_url, world.quiz_id)
    assert stored == {after.json()["id"]} and partial == []
    assert "unhandled error" not in app.log_text(), app.log_tail()


async def test_a_pool_of_dead_connections_after_a_quiet_restart_serves_at_once(
    stack: Stack,
) -> None:
    """No request during the outage: every pooled connection is dead when traffic
    returns. The checkout check (asyncpg saw the sockets close) replaces them, so the
    first requests already succeed."""
    app = stack.app()
    world = await build_world(app.base_url, members=4)

    async def burst(http: httpx.AsyncClient) -> list[int]:
        responses = await asyncio.gather(
            *(
                http.post(
                    f"/quizzes/{world.quiz_id}/attempts",
                    json=world.submission,
                    headers=member.headers,
                )
                for member in world.members
            )
        )
        return [r.status_code for r in responses]

    async with httpx.AsyncClient(base_url=app.base_url, timeout=15) as http:
        assert await burst(http) == [201] * 4  # several connections now sit in the pool
        await asyncio.to_thread(stack.pg.stop, "immediate")
        await asyncio.to_thread(stack.pg.start)
        after = [await burst(http) for _ in range(3)]
    assert after == [[201] * 4] * 3, app.log_tail()
    assert "database unavailable" not in app.log_text(), app.log_tail()
