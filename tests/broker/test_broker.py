"""The broker contract, run against the in-process back end and (postgres lane) Redis."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from qoach.broker import Broker, BrokerUnavailable
from qoach.broker.base import OUTAGE, RESYNC
from qoach.broker.local import QUEUE_SIZE
from qoach.broker.memory import MemoryBroker
from tests import lanes

if TYPE_CHECKING:
    from qoach.broker.redis import RedisBroker

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
    assert other.empty()  # type: ignore[attr-defined]
    await mine.close()
    await other.close()


async def test_a_template_fans_out_to_the_subscribed_topics(broker: Broker) -> None:
    first, second = await broker.subscribe("user:1"), await broker.subscribe("user:1")
    third = await broker.subscribe("user:3")
    parts = [("user:1", "11"), ("user:2", "12"), ("user:3", "13")]
    await broker.publish_template('{"id":', ',"same":"body"}', parts)
    await broker.publish("user:3", "after")
    for subscription, expected in ((first, "11"), (second, "11"), (third, "13")):
        received = await asyncio.wait_for(anext(aiter(subscription)), timeout=2)
        assert received == '{"id":' + expected + ',"same":"body"}'
    assert await asyncio.wait_for(anext(aiter(third)), timeout=2) == "after"
    assert first.empty() and second.empty()  # type: ignore[attr-defined]
    for subscription in (first, second, third):
        await subscription.close()


async def test_a_consumer_that_falls_behind_is_told_to_resync(broker: Broker) -> None:
    subscription = await broker.subscribe("user:1")
    messages = aiter(subscription)
    await broker.publish_many([("user:1", str(i)) for i in range(QUEUE_SIZE + 5)])
    # the overflow is reported first; then the buffered messages, in order
    assert await asyncio.wait_for(anext(messages), timeout=5) == RESYNC
    buffered = [await asyncio.wait_for(anext(messages), timeout=2) for _ in range(QUEUE_SIZE)]
    assert buffered == [str(i) for i in range(QUEUE_SIZE)]
    await broker.publish("user:1", "next")
    assert await asyncio.wait_for(anext(messages), timeout=2) == "next"
    await subscription.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(messages), timeout=2)


async def _own_pubsub_ids(broker: RedisBroker) -> list[str]:
    clients = await broker._client.client_list(_type="pubsub")
    return [c["id"] for c in clients if c.get("name") == broker.client_name]


async def _next_within(messages: AsyncIterator[str], seconds: float) -> str | None:
    try:
        return await asyncio.wait_for(anext(messages), timeout=seconds)
    except TimeoutError:
        return None


@pytest.mark.postgres_only
async def test_redis_subscription_resyncs_after_its_connection_is_killed() -> None:
    from qoach.broker.redis import RedisBroker

    broker = RedisBroker(lanes.REDIS_URL, prefix=f"qoach-broker-test-{uuid.uuid4().hex[:8]}")
    try:
        subscription = await broker.subscribe("user:7")
        messages = aiter(subscription)
        await asyncio.wait_for(broker._ready.wait(), timeout=5)
        await broker.publish("user:7", "before")
        assert await _next_within(messages, 2) == "before"
        # kill only this broker's own pub/sub connection (others share the server)
        (ours,) = await _own_pubsub_ids(broker)
        assert await broker._client.client_kill_filter(_id=ours) == 1
        # delivery stops (OUTAGE, unless redis-py reconnected by itself first), then
        # the resubscribed broker says RESYNC: messages in between may be lost
        markers = []
        while (received := await _next_within(messages, 10)) not in (RESYNC, None):
            markers.append(received)
        assert received == RESYNC
        assert markers in ([], [OUTAGE])
        assert (await _own_pubsub_ids(broker)) not in ([], [ours])
        await broker.publish("user:7", "after-reconnect")
        assert await _next_within(messages, 2) == "after-reconnect"
        await subscription.close()
    finally:
        await broker.close()


@pytest.mark.postgres_only
async def test_redis_subscription_opened_while_redis_is_unreachable_starts_with_outage() -> None:
    from qoach.broker.redis import RedisBroker

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    broker = RedisBroker(f"redis://127.0.0.1:{port}/0", prefix="qoach-broker-test-down")
    try:
        subscription = await broker.subscribe("user:1")
        assert await _next_within(aiter(subscription), 1) == OUTAGE
        assert await _next_within(aiter(subscription), 0.3) is None  # once, until RESYNC
        with pytest.raises(BrokerUnavailable):
            await broker.publish("user:1", "x")
        await subscription.close()
    finally:
        await broker.close()
