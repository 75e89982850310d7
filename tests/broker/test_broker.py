"""The broker contract, run against the in-process back end and (postgres lane) Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from qoach.broker import Broker
from qoach.broker.memory import MemoryBroker
from tests import lanes

BACKENDS = ["memory", "redis"] if lanes.LANE == "postgres" else ["memory"]


@pytest.fixture(params=BACKENDS)
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if request.param == "memory":
        instance: Broker = MemoryBroker()
    else:
        from qoach.broker.redis import RedisBroker

        instance = RedisBroker(lanes.REDIS_URL, prefix=f"qoach-broker-test-{uuid.uuid4().hex[:8]}")
    try:
        yield instance
    finally:
        await instance.flush()  # type: ignore[attr-defined]
        await instance.close()


async def test_cache_round_trip_and_expiry(broker: Broker) -> None:
    assert await broker.cache_get("k") is None
    await broker.cache_set("k", "v", ttl_seconds=1)
    assert await broker.cache_get("k") == "v"
    await broker.cache_delete("k")
    assert await broker.cache_get("k") is None
    await broker.cache_set("short", "v", ttl_seconds=1)
    await asyncio.sleep(1.2)
    assert await broker.cache_get("short") is None


async def test_cache_bump_counts_up(broker: Broker) -> None:
    assert await broker.cache_bump("gen") == 1
    assert await broker.cache_bump("gen") == 2


async def test_counter_window(broker: Broker) -> None:
    assert await broker.counter_get("c") == (0, 0)
    count, ttl = await broker.counter_incr("c", window_seconds=60)
    assert count == 1 and 1 <= ttl <= 60
    count, ttl = await broker.counter_incr("c", window_seconds=60)
    assert count == 2 and 1 <= ttl <= 60
    assert (await broker.counter_get("c"))[0] == 2
    await broker.counter_reset("c")
    assert await broker.counter_get("c") == (0, 0)


async def test_counter_window_expires(broker: Broker) -> None:
    await broker.counter_incr("w", window_seconds=1)
    await asyncio.sleep(1.2)
    assert await broker.counter_get("w") == (0, 0)


async def test_lock_is_exclusive_and_released(broker: Broker) -> None:
    async with broker.lock("job", ttl_seconds=10) as first:
        assert first is True
        async with broker.lock("job", ttl_seconds=10) as second:
            assert second is False
    async with broker.lock("job", ttl_seconds=10) as again:
        assert again is True


async def test_publish_reaches_subscribers_of_the_topic_only(broker: Broker) -> None:
    mine = await broker.subscribe("user:1")
    other = await broker.subscribe("user:2")
    await broker.publish("user:1", "hello")
    received = await asyncio.wait_for(anext(aiter(mine)), timeout=2)
    assert received == "hello"
    assert other.queue.empty()  # type: ignore[attr-defined]
    await mine.close()
    await other.close()


@pytest.mark.postgres_only
async def test_redis_subscription_survives_a_dropped_connection() -> None:
    from qoach.broker.redis import RedisBroker

    broker = RedisBroker(lanes.REDIS_URL, prefix=f"qoach-broker-test-{uuid.uuid4().hex[:8]}")
    try:
        subscription = await broker.subscribe("user:7")
        # kill only this broker's own pub/sub connection (others share the server)
        await asyncio.wait_for(broker._ready.wait(), timeout=5)
        clients = await broker._client.client_list(_type="pubsub")
        ours = [c["id"] for c in clients if c.get("name") == broker.client_name]
        assert len(ours) == 1
        assert await broker._client.client_kill_filter(_id=ours[0]) == 1
        deadline = asyncio.get_running_loop().time() + 10
        received = None
        messages = aiter(subscription)
        while received is None and asyncio.get_running_loop().time() < deadline:
            await broker.publish("user:7", "after-reconnect")
            try:
                received = await asyncio.wait_for(anext(messages), timeout=0.5)
            except TimeoutError:
                continue
        assert received == "after-reconnect"
        await subscription.close()
    finally:
        await broker.close()
