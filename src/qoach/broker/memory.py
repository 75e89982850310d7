"""In-process broker for the embedded single-process mode (and the embedded test lane)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager


class MemorySubscription:
    def __init__(self, broker: MemoryBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic
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
        self._broker._unsubscribe(self._topic, self)
        if not self.queue.full():
            self.queue.put_nowait(None)


class MemoryBroker:
    source: str = "embedded"
    host: str | None = None

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, float]] = {}
        self._counters: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, float] = {}
        self._subscribers: dict[str, set[MemorySubscription]] = defaultdict(set)

    async def ping(self) -> None:
        return None

    async def cache_get(self, key: str) -> str | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires <= time.monotonic():
            self._cache.pop(key, None)
            return None
        return value

    async def cache_set(self, key: str, value: str, ttl_seconds: int) -> None:
        if len(self._cache) > 50_000:
            self._evict()
        self._cache[key] = (value, time.monotonic() + ttl_seconds)

    def _evict(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, exp) in self._cache.items() if exp <= now]:
            del self._cache[key]
        while len(self._cache) > 40_000:
            self._cache.pop(next(iter(self._cache)))

    async def cache_delete(self, *keys: str) -> None:
        for key in keys:
            self._cache.pop(key, None)

    async def cache_bump(self, key: str) -> int:
        current = int((await self.cache_get(key)) or 0) + 1
        self._cache[key] = (str(current), float("inf"))
        return current

    async def counter_get(self, key: str) -> tuple[int, int]:
        entry = self._counters.get(key)
        if entry is None:
            return 0, 0
        count, expires = entry
        remaining = expires - time.monotonic()
        if remaining <= 0:
            del self._counters[key]
            return 0, 0
        return count, max(1, int(remaining + 0.999))

    async def counter_incr(self, key: str, window_seconds: int) -> tuple[int, int]:
        count, _ = await self.counter_get(key)
        expires = time.monotonic() + window_seconds if count == 0 else self._counters[key][1]
        self._counters[key] = (count + 1, expires)
        return count + 1, max(1, int(expires - time.monotonic() + 0.999))

    async def counter_reset(self, key: str) -> None:
        self._counters.pop(key, None)

    @asynccontextmanager
    async def lock(self, name: str, ttl_seconds: float) -> AsyncIterator[bool]:
        now = time.monotonic()
        held = self._locks.get(name)
        if held is not None and held > now:
            yield False
            return
        self._locks[name] = now + ttl_seconds
        try:
            yield True
        finally:
            self._locks.pop(name, None)

    async def publish(self, topic: str, message: str) -> None:
        for subscription in list(self._subscribers.get(topic, ())):
            # a consumer that stopped reading loses messages
            with contextlib.suppress(asyncio.QueueFull):
                subscription.queue.put_nowait(message)

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        for topic, message in messages:
            await self.publish(topic, message)

    async def subscribe(self, topic: str) -> MemorySubscription:
        subscription = MemorySubscription(self, topic)
        self._subscribers[topic].add(subscription)
        return subscription

    def _unsubscribe(self, topic: str, subscription: MemorySubscription) -> None:
        subscribers = self._subscribers.get(topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[topic]

    async def flush(self) -> None:
        """Forget everything (tests)."""
        self._cache.clear()
        self._counters.clear()
        self._locks.clear()

    async def close(self) -> None:
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                await subscription.close()
