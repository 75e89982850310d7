"""What the service asks of Redis, as one small interface.

Callers speak in logical names (`"login:acct:alice@example.com"`, a user's topic);
only the back ends know how those map onto keys and channels.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class BrokerUnavailable(Exception):
    """The broker cannot be reached right now."""


class Subscription(Protocol):
    """Messages published to one topic, in order, while the subscription is open."""

    def __aiter__(self) -> AsyncIterator[str]: ...

    async def __anext__(self) -> str: ...

    async def close(self) -> None: ...


class Broker(Protocol):
    source: str  # "embedded" | "local" | "railway"
    host: str | None

    async def ping(self) -> None:
        """Raise BrokerUnavailable when the back end does not answer."""

    # cache
    async def cache_get(self, key: str) -> str | None: ...

    async def cache_set(self, key: str, value: str, ttl_seconds: int) -> None: ...

    async def cache_delete(self, *keys: str) -> None: ...

    async def cache_bump(self, key: str) -> int:
        """Increment a generation counter (for cache invalidation) and return it."""

    # counters (rate limits)
    async def counter_get(self, key: str) -> tuple[int, int]:
        """(count, seconds until the window resets) — (0, 0) when absent."""

    async def counter_incr(self, key: str, window_seconds: int) -> tuple[int, int]:
        """Increment a fixed-window counter; the window starts at the first hit."""

    async def counter_reset(self, key: str) -> None: ...

    # locks
    def lock(self, name: str, ttl_seconds: float) -> AbstractAsyncContextManager[bool]:
        """Try once to take a lock; yields whether this caller holds it."""

    # pub/sub
    async def publish(self, topic: str, message: str) -> None: ...

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        """Publish (topic, message) pairs in order, in as few round trips as possible."""

    async def subscribe(self, topic: str) -> Subscription: ...

    async def close(self) -> None: ...
