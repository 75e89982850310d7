"""In-process broker for the embedded single-process mode (and the embedded test lane)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from qoach.broker.local import LocalTopics, QueueSubscription

# the in-process back end never loses its "connection": its subscriptions only see
# `RESYNC` when their consumer fell too far behind (see broker.local)
MemorySubscription = QueueSubscription


class MemoryBroker:
    source: str = "embedded"
    host: str | None = None

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, float]] = {}
        self._counters: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, float] = {}
        self._topics = LocalTopics()

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
        self._topics.deliver(topic, message)

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        for topic, message in messages:
            self._topics.deliver(topic, message)

    async def publish_template(
        self, head: str, tail: str, parts: Sequence[tuple[str, str]]
    ) -> None:
        self._topics.deliver_template(head, tail, parts)

    async def subscribe(self, topic: str) -> QueueSubscription:
        return self._topics.add(topic)

    @property
    def _subscribers(self) -> dict[str, set[QueueSubscription]]:
        return self._topics.subscribers

    async def flush(self) -> None:
        """Forget everything (tests)."""
        self._cache.clear()
        self._counters.clear()
        self._locks.clear()

    async def close(self) -> None:
        await self._topics.close_all()
