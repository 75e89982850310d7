"""Redis back end: shared cache, counters, locks and cross-instance pub/sub.

Key layout (the only place that knows it): `<prefix>:cache:<key>`,
`<prefix>:ctr:<key>`, `<prefix>:lock:<name>`, channels `<prefix>:topic:<topic>`.

Pub/sub: each process holds one connection subscribed to the pattern
`<prefix>:topic:*` and fans messages out to its local subscribers. When Redis
drops, the reader reconnects with backoff and subscribes again; messages
published meanwhile are lost to this process (callers that need them keep the
truth in the database and replay from there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from qoach.broker.base import BrokerUnavailable
from qoach.db.engine import source_of_host

logger = logging.getLogger("qoach.broker")

_PUBLISH_BATCH = 1_000

_RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

_INCR_WINDOW = """
local count = redis.call('incr', KEYS[1])
if count == 1 then
    redis.call('expire', KEYS[1], ARGV[1])
end
local ttl = redis.call('ttl', KEYS[1])
if ttl < 0 then
    redis.call('expire', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisSubscription:
    def __init__(self, broker: RedisBroker, topic: str) -> None:
        self._broker = broker
        self.topic = topic
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=10_000)

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        # a plain method, not an async generator: cancelling a wait (e.g. in
        # asyncio.wait_for) leaves the subscription usable
        message = await self.queue.get()
        if message is None:
            self.queue.put_nowait(None)
            raise StopAsyncIteration
        return message

    async def close(self) -> None:
        self._broker._unsubscribe(self)
        if not self.queue.full():
            self.queue.put_nowait(None)


class RedisBroker:
    def __init__(self, url: str, prefix: str = "qoach") -> None:
        self._url = url
        self._prefix = prefix
        self.host = urlsplit(url).hostname
        self.source = source_of_host(self.host)
        self.client_name = "".join(c if c.isalnum() or c in "-_.:" else "_" for c in prefix)[:64]
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=3,
            socket_connect_timeout=2,
            health_check_interval=30,
            retry_on_timeout=False,
            # named, so `CLIENT LIST` tells this service's connections (and tests
            # can drop exactly their own) among others sharing the server
            client_name=self.client_name,
        )
        self._release = self._client.register_script(_RELEASE_LOCK)
        self._incr_window = self._client.register_script(_INCR_WINDOW)
        self._subscribers: dict[str, set[RedisSubscription]] = defaultdict(set)
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = False

    # naming
    def _k(self, kind: str, key: str) -> str:
        return f"{self._prefix}:{kind}:{key}"

    @property
    def _pattern(self) -> str:
        return f"{self._prefix}:topic:*"

    # health
    async def ping(self) -> None:
        try:
            await asyncio.wait_for(self._client.ping(), timeout=3)
        except (RedisError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc

    # cache: failures degrade to a miss, never to an error
    async def cache_get(self, key: str) -> str | None:
        try:
            value = await self._client.get(self._k("cache", key))
            return value if value is None or isinstance(value, str) else value.decode()
        except (RedisError, OSError) as exc:
            logger.warning("cache read failed: %s", exc)
            return None

    async def cache_set(self, key: str, value: str, ttl_seconds: int) -> None:
        try:
            await self._client.set(self._k("cache", key), value, ex=ttl_seconds)
        except (RedisError, OSError) as exc:
            logger.warning("cache write failed: %s", exc)

    async def cache_delete(self, *keys: str) -> None:
        if not keys:
            return
        try:
            await self._client.delete(*(self._k("cache", key) for key in keys))
        except (RedisError, OSError) as exc:
            logger.warning("cache delete failed: %s", exc)

    async def cache_bump(self, key: str) -> int:
        try:
            return int(await self._client.incr(self._k("cache", key)))
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc

    # counters
    async def counter_get(self, key: str) -> tuple[int, int]:
        name = self._k("ctr", key)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.get(name)
                pipe.ttl(name)
                value, ttl = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc
        if value is None:
            return 0, 0
        return int(value), max(1, int(ttl))

    async def counter_incr(self, key: str, window_seconds: int) -> tuple[int, int]:
        try:
            count, ttl = await self._incr_window(
                keys=[self._k("ctr", key)], args=[int(window_seconds)]
            )
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc
        return int(count), max(1, int(ttl))

    async def counter_reset(self, key: str) -> None:
        try:
            await self._client.delete(self._k("ctr", key))
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc

    # locks
    @asynccontextmanager
    async def lock(self, name: str, ttl_seconds: float) -> AsyncIterator[bool]:
        key = self._k("lock", name)
        token = secrets.token_hex(16)
        try:
            acquired = bool(await self._client.set(key, token, nx=True, px=int(ttl_seconds * 1000)))
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc
        try:
            yield acquired
        finally:
            if acquired:
                with contextlib.suppress(RedisError, OSError):
                    await self._release(keys=[key], args=[token])

    # pub/sub
    async def publish(self, topic: str, message: str) -> None:
        try:
            await self._client.publish(self._k("topic", topic), message)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        """One pipelined round trip per 1,000 messages (a fan-out to every member)."""
        try:
            for start in range(0, len(messages), _PUBLISH_BATCH):
                async with self._client.pipeline(transaction=False) as pipe:
                    for topic, message in messages[start : start + _PUBLISH_BATCH]:
                        pipe.publish(self._k("topic", topic), message)
                    await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc

    async def subscribe(self, topic: str) -> RedisSubscription:
        subscription = RedisSubscription(self, topic)
        self._subscribers[topic].add(subscription)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="qoach-broker-reader")
        # Wait (briefly) for the pattern subscription so that a publish right after
        # subscribe() returns reaches us; if Redis is down we go on and catch up
        # when it returns.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=2)
        return subscription

    def _unsubscribe(self, subscription: RedisSubscription) -> None:
        subscribers = self._subscribers.get(subscription.topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.topic]

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def _read_forever(self) -> None:
        backoff = 0.1
        topic_start = len(self._prefix) + len(":topic:")
        while not self._closed:
            pubsub = self._client.pubsub()
            try:
                await pubsub.psubscribe(self._pattern)
                # confirm the subscription before declaring ourselves ready
                while True:
                    confirmation = await pubsub.get_message(timeout=2.0)
                    if confirmation and confirmation["type"] == "psubscribe":
                        break
                    if confirmation is None:
                        raise TimeoutError("no psubscribe confirmation")
                self._ready.set()
                if backoff > 0.1:
                    logger.info("broker pub/sub reconnected")
                backoff = 0.1
                while not self._closed:
                    message: dict[str, Any] | None = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        await pubsub.ping()
                        continue
                    if message.get("type") != "pmessage":
                        continue
                    channel = message["channel"]
                    self._dispatch(channel[topic_start:], message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                self._ready.clear()
                logger.warning("broker pub/sub lost (%s); retrying in %.1fs", exc, backoff)
            finally:
                # close before backing off: redis-py may already have reconnected
                # (and resubscribed) this pubsub inside its own retry, which would
                # leave an unread orphan subscription open during the sleep
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if self._closed:
                break
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _dispatch(self, topic: str, data: str) -> None:
        for subscription in list(self._subscribers.get(topic, ())):
            try:
                subscription.queue.put_nowait(data)
            except asyncio.QueueFull:
                logger.warning("subscriber of %s is not reading; message dropped", topic)

    async def flush(self) -> None:
        """Delete every key of this prefix (tests)."""
        async for key in self._client.scan_iter(match=f"{self._prefix}:*", count=500):
            await self._client.delete(key)

    async def close(self) -> None:
        self._closed = True
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                await subscription.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self._client.aclose()
