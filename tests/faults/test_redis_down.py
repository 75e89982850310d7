"""Redis dies (SIGKILL) and comes back: the API keeps serving, sockets resume, `since` replays.

What Redis loss means (see src/qoach/auth/ratelimit.py and src/qoach/broker/redis.py):
login rate limits fail open, the cache degrades to misses, notifications are still
written to the database but not pushed live; `/health/redis` and `/health/all`
report it. A socket held across the outage misses nothing and gets nothing twice:
while Redis is down it polls the database every few seconds, and when the process
has resubscribed it catches up on whatever was created meanwhile (during the
outage and the resubscribe backoff). A client reconnecting with
`?since=<last id it saw>` gets everything it missed too.
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
    Socket,
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
# a socket polls every POLL_SECONDS (5 s) ± 20 % while the broker is down
POLL_WAIT_SECONDS = 10.0


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


async def _receive_until(held: Socket, live: list[int], wanted: list[int], within: float) -> None:
    """Read the held socket into `live` until every id of `wanted` has arrived."""
    deadline = time.monotonic() + within
    while not set(wanted) <= set(live):
        left = deadline - time.monotonic()
        assert left > 0, f"the held socket is missing {sorted(set(wanted) - set(live))}"
        live += await held.notification_ids(within=min(left, 0.5))


async def test_redis_killed_the_api_keeps_serving_and_sockets_catch_up(stack: Stack) -> None:
    app = stack.app()
    world = await build_world(app.base_url, members=1)
    owner, member = world.owner, world.members[0]
    created: list[int] = []  # the member's notification ids, in creation order
    live: list[int] = []  # what the socket held across the outage received after `before`

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

        # nothing can be pushed now, but the held socket polls the database: it is
        # not stale for the whole outage (polls every ~5 s)
        polled_at = time.monotonic()
        await _receive_until(held, live, created, within=POLL_WAIT_SECONDS)
        polled_in = time.monotonic() - polled_at

        # a client that connects during the outage is served from the database
        async with open_socket(app.ws_url, member.token, since=last_seen) as newcomer:
            replayed = await newcomer.notification_ids(within=1.0)
        assert replayed == created

        await asyncio.to_thread(stack.redis.start)
        back_at = time.monotonic()
        # created while the process has not resubscribed yet (backoff up to 5 s):
        # published to a Redis this process does not listen to yet
        for number in range(3):
            backoff = await create_quiz(http, owner, world.company_id, f"Backoff {number}")
            created.append(await _notification_for_quiz(http, member, backoff["id"]))

        async def healthy() -> bool:
            response = await http.get("/health/all")
            return response.status_code == 200 and response.json()["status"] == "ok"

        await wait_until_async(healthy, 15, "/health/all ok once Redis is back")

        # once resubscribed the held socket catches up on all of them, then is live
        await _receive_until(held, live, created, within=20)
        resumed_in = time.monotonic() - back_at
        after = await create_quiz(http, owner, world.company_id, "After the outage")
        created.append(await _notification_for_quiz(http, member, after["id"]))
        await _receive_until(held, live, created, within=5)
        live += await held.notification_ids(within=1.0)  # anything extra would be a duplicate
        assert sorted(live) == created, (live, created)  # every one, none twice

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
        f"\nRedis killed: requests during the outage {timings}; held socket polled the "
        f"outage's notification in {polled_in:.1f} s and had all {len(created)} "
        f"{resumed_in:.1f} s after restart; replayed {len(replayed)} notifications"
    )
    assert "unhandled error" not in app.log_text(), app.log_tail()
