"""Redis back end: shared cache, counters, locks and cross-instance pub/sub.

Key layout (the only place that knows it): `<prefix>:cache:<key>`,
`<prefix>:ctr:<key>`, `<prefix>:lock:<name>`, and one channel `<prefix>:bus`.

Pub/sub: every message on the bus is JSON `[head, tail, [[topic, middle], ...]]`
and stands for `head + middle + tail` published to each topic (a plain publish is
`["", "", [[topic, message]]]`), so that a fan-out of one body to thousands of
topics is one Redis message, not thousands. Each process holds one connection
subscribed to the bus and hands each topic's message to its local subscribers
(if any). When Redis drops, the reader tells every local subscription (`OUTAGE`),
reconnects with backoff, subscribes again and then tells them `RESYNC`: messages
published meanwhile are lost to this process, and callers that need them keep the
truth in the database and replay from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from qoach.broker.base import OUTAGE, RESYNC, BrokerUnavailable
from qoach.broker.local import LocalTopics, QueueSubscription
from qoach.db.engine import source_of_host

logger = logging.getLogger("qoach.broker")

# topics per bus message: a fan-out to 50,000 users is 5 messages of ~250 KB
_PARTS_PER_MESSAGE = 10_000

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


RedisSubscription = QueueSubscription


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
        self._topics = LocalTopics()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = False

    # naming
    def _k(self, kind: str, key: str) -> str:
        return f"{self._prefix}:{kind}:{key}"

    @property
    def _bus(self) -> str:
        return f"{self._prefix}:bus"

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
    @staticmethod
    def _encode(head: str, tail: str, parts: Sequence[tuple[str, str]]) -> list[str]:
        return [
            json.dumps(
                [head, tail, parts[start : start + _PARTS_PER_MESSAGE]],
                ensure_ascii=False,
                separators=(",", ":"),
            )
            for start in range(0, len(parts), _PARTS_PER_MESSAGE)
        ]

    async def _publish_encoded(self, payloads: list[str]) -> None:
        if not payloads:
            return
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            started = loop.time()
            try:
                if len(payloads) == 1:
                    await self._client.publish(self._bus, payloads[0])
                else:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for payload in payloads:
                            pipe.publish(self._bus, payload)
                        await pipe.execute()
                return
            except RedisConnectionError as exc:
                # After Redis restarted, the pool still holds connections to the old
                # server, each failing at once ("Connection closed by server"): the
                # message never left, so try once more on a fresh connection (at
                # worst a duplicate, which subscribers that care skip by id). Not
                # after a slow failure (a connect timeout): that would only double it.
                if attempt == 2 or loop.time() - started > 0.5:
                    raise BrokerUnavailable(str(exc)) from exc
                logger.info("publish failed on a stale connection (%s); retrying", exc)
            except (RedisError, OSError) as exc:
                raise BrokerUnavailable(str(exc)) from exc

    async def publish(self, topic: str, message: str) -> None:
        await self._publish_encoded(self._encode("", "", [(topic, message)]))

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        """One bus message per 10,000 (topic, message) pairs, pipelined."""
        await self._publish_encoded(self._encode("", "", messages))

    async def publish_template(
        self, head: str, tail: str, parts: Sequence[tuple[str, str]]
    ) -> None:
        await self._publish_encoded(self._encode(head, tail, parts))

    async def subscribe(self, topic: str) -> QueueSubscription:
        subscription = self._topics.add(topic)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="qoach-broker-reader")
        # Wait (briefly) for the bus subscription so that a publish right after
        # subscribe() returns reaches us; if Redis is down we go on: the
        # subscription starts with OUTAGE and gets RESYNC once Redis is back.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=2)
        if not self._ready.is_set() and not subscription.stale:
            subscription.stale = True
            subscription.offer(OUTAGE)
        return subscription

    @property
    def _subscribers(self) -> dict[str, set[QueueSubscription]]:
        return self._topics.subscribers

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    def _lost(self) -> None:
        """Delivery stopped: every subscription hears OUTAGE (once until RESYNC)."""
        self._ready.clear()
        stale = [s for s in self._topics.all() if not s.stale]
        for subscription in stale:
            subscription.stale = True
        self._topics.mark(OUTAGE, stale)

    def _resumed(self, *, everyone: bool) -> None:
        """Delivery works again: the subscriptions that may have missed messages hear
        RESYNC (`everyone`: redis-py reconnected behind our back, so all of them)."""
        self._ready.set()
        missed = [s for s in self._topics.all() if everyone or s.stale]
        for subscription in missed:
            subscription.stale = False
        self._topics.mark(RESYNC, missed)

    async def _read_forever(self) -> None:
        backoff = 0.1
        while not self._closed:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._bus)
                # confirm the subscription before declaring ourselves ready
                while True:
                    confirmation = await pubsub.get_message(timeout=2.0)
                    if confirmation and confirmation["type"] == "subscribe":
                        break
                    if confirmation is None:
                        raise TimeoutError("no subscribe confirmation")
                self._resumed(everyone=False)
                if backoff > 0.1:
                    logger.info("broker pub/sub reconnected")
                backoff = 0.1
                while not self._closed:
                    message: dict[str, Any] | None = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        await pubsub.ping()
                        continue
                    kind = message.get("type")
                    if kind == "message":
                        self._dispatch(message["data"])
                    elif kind == "subscribe":
                        # redis-py lost the connection, reconnected and resubscribed
                        # inside its own retry: whatever was published in between is lost
                        logger.warning("broker pub/sub reconnected by the client; resync")
                        self._resumed(everyone=True)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                self._lost()
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

    def _dispatch(self, data: str) -> None:
        try:
            head, tail, parts = json.loads(data)
            self._topics.deliver_template(head, tail, parts)
        except (ValueError, TypeError) as exc:
            logger.warning("ignoring a malformed bus message: %s", exc)

    async def flush(self) -> None:
        """Delete every key of this prefix (tests)."""
        async for key in self._client.scan_iter(match=f"{self._prefix}:*", count=500):
            await self._client.delete(key)

    async def close(self) -> None:
        self._closed = True
        await self._topics.close_all()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self._client.aclose()
