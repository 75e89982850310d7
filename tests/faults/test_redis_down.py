"""Redis dies (SIGKILL) and comes back: the API keeps serving, sockets resume, `since` replays.

What Redis loss means (see src/qoach/auth/ratelimit.py and src/qoach/broker/redis.py):
login rate limits fail open, the cache degrades to misses, notifications are still
written to the database but not pushed live; `/health/redis` and `/health/all`
report it. When Redis returns, each process resubscribes by itself, sockets held
across the outage receive new notifications again, and a client reconnecting with
`?since=<last id it saw>` gets everything it missed.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.faults.conftest import Stack
from tests.faults.helpers import (
    PASSWORD,
    Person,
    World,
    build_world,
    create_quiz,
    expect,
    open_socket,
    wait_until_async,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

# each request while Redis is down: the broker's connect timeout and retries included
SLOW_REQUEST_SECONDS = 5.0


async def _notification_for_quiz(http: httpx.AsyncClient, member: Person, quiz_id: int) -> int:
    page = expect(
        await http.get("/users/me/notifications", params={"limit": 100}, headers=member.headers),
        200,
    )
    (found,) = [n["id"] for n in page["items"] if n["payload"].get("quiz_id") == quiz_id]
    return int(found)


async def _keeps_serving(http: httpx.AsyncClient, world: World, member: Person) -> dict[str, float]:
    """Every kind of request a user makes, while Redis is down; their durations."""
    timings: dict[str, float] = {}

    async def timed(name: str, request: object) -> httpx.Response:
        started = time.monotonic()
        response: httpx.Response = await request  # type: ignore[misc]
        timings[name] = round(time.monotonic() - started, 3)
        return response

    tokens = expect(
        await timed(
            "login", http.post("/auth/login", json={"email": member.email, "password": PASSWORD})
        ),
        200,
    )
    assert tokens["access_token"]
    # a failed login is still a 401 (the limiter fails open rather than locking out)
    wrong = await timed(
        "failed_login", http.post("/auth/login", json={"email": member.email, "password": "x" * 12})
    )
    assert wrong.status_code == 401, wrong.text
    expect(await timed("quiz", http.get(f"/quizzes/{world.quiz_id}", headers=member.headers)), 200)
    attempt = expect(
        await timed(
            "attempt",
            http.post(
                f"/quizzes/{world.quiz_id}/attempts", json=world.submission, headers=member.headers
            ),
        ),
        201,
    )
    expect(
        await timed("read_attempt", http.get(f"/attempts/{attempt['id']}", headers=member.headers)),
        200,
    )
    expect(
        await timed("notifications", http.get("/users/me/notifications", headers=member.headers)),
        200,
    )

    redis_health = await timed("health_redis", http.get("/health/redis"))
    assert redis_health.status_code == 503, redis_health.text
    assert redis_health.json()["status"] == "error" and redis_health.json()["error"]
    health = await timed("health_all", http.get("/health/all"))
    assert health.status_code == 503, health.text
    assert health.json()["status"] == "degraded"
    assert health.json()["redis"]["status"] == "error"
    assert health.json()["database"]["status"] == "ok"
    slow = {name: seconds for name, seconds in timings.items() if seconds > SLOW_REQUEST_SECONDS}
    assert not slow, f"requests slowed down by the Redis outage: {slow}"
    return timings


async def test_redis_killed_the_api_keeps_serving_and_sockets_catch_up(stack: Stack) -> None:
    app = stack.app()
    world = await build_world(app.base_url, members=1)
    owner, member = world.owner, world.members[0]
    created: list[int] = []  # the member's notification ids, in creation order

    async with (
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
        open_socket(app.ws_url, member.token) as held,
    ):
        before = await create_quiz(http, owner, world.company_id, "Before the outage")
        message = await held.next(within=5)
        assert message["type"] == "notification", message
        assert message["data"]["payload"]["quiz_id"] == before["id"]
        last_seen = message["data"]["id"]

        await asyncio.to_thread(stack.redis.kill)
        timings = await _keeps_serving(http, world, member)
        during = await create_quiz(http, owner, world.company_id, "During the outage")
        created.append(await _notification_for_quiz(http, member, during["id"]))
        assert await held.notification_ids(within=0.5) == []  # nothing can be pushed now

        # a client that connects during the outage is served from the database
        async with open_socket(app.ws_url, member.token, since=last_seen) as newcomer:
            replayed = await newcomer.notification_ids(within=1.0)
        assert replayed == created

        await asyncio.to_thread(stack.redis.start)
        back_at = time.monotonic()

        async def healthy() -> bool:
            response = await http.get("/health/all")
            return response.status_code == 200 and response.json()["status"] == "ok"

        await wait_until_async(healthy, 15, "/health/all ok once Redis is back")

        # the socket held across the outage receives new notifications again once the
        # process has resubscribed (with backoff: probes until one gets through)
        live: list[int] = []
        deadline = time.monotonic() + 20
        while not live:
            assert time.monotonic() < deadline, "no notification reached the held socket"
            probe = await create_quiz(http, owner, world.company_id, f"Probe {len(created)}")
            created.append(await _notification_for_quiz(http, member, probe["id"]))
            live += await held.notification_ids(within=0.7)
        resumed_in = time.monotonic() - back_at
        after = await create_quiz(http, owner, world.company_id, "After the outage")
        created.append(await _notification_for_quiz(http, member, after["id"]))
        live += await held.notification_ids(within=1.0)
        assert live[-1] == created[-1], (live, created)
        assert len(live) == len(set(live)) and set(live) <= set(created[1:])

    # reconnecting with the last id seen before the outage replays everything since
    async with (
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
        open_socket(app.ws_url, member.token, since=last_seen) as again,
    ):
        replayed = await again.notification_ids(within=1.5)
        assert replayed == created, (replayed, created)
        # and it is live too
        last = await create_quiz(http, owner, world.company_id, "Live after replay")
        assert (await again.next(within=5))["data"]["payload"]["quiz_id"] == last["id"]
    print(
        f"\nRedis killed: requests during the outage {timings}; held socket resumed "
        f"{resumed_in:.1f} s after restart; replayed {len(replayed)} notifications"
    )
    assert "unhandled error" not in app.log_text(), app.log_tail()
