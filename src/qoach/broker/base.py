"""What the service asks of Redis, as one small interface.

Callers speak in logical names (`"login:acct:alice@example.com"`, a user's topic);
only the back ends know how those map onto keys and channels.

Pub/sub delivery is at most once: a subscription may miss messages (the Redis
connection dropped, or its consumer fell 10,000 messages behind). It then says so
in-band, so that callers keeping the truth elsewhere (notifications: the database)
catch up instead of staying silently stale:

- `OUTAGE`: delivery has stopped (the broker lost its connection); messages
  published from now on may never arrive. A `RESYNC` follows once it is back.
- `RESYNC`: delivery works (again), but messages published before this point may
  have been missed: re-read the source of truth.

Both are plain strings that no published message can equal (they start with NUL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol

OUTAGE: Final = "\x00outage"
RESYNC: Final = "\x00resync"
MARKERS: Final = frozenset({OUTAGE, RESYNC})


class BrokerUnavailable(Exception):
    """The broker cannot be reached right now."""


class Subscription(Protocol):
    """Messages published to one topic, in order, while the subscription is open;
    interleaved with the `OUTAGE` / `RESYNC` markers when delivery was interrupted."""

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

    async def publish_template(
        self, head: str, tail: str, parts: Sequence[tuple[str, str]]
    ) -> None:
        """Publish `head + middle + tail` to each `(topic, middle)` of `parts`.

        A fan-out of one body to many topics travels as ONE message (the shared
        head and tail once, plus the small per-topic middles); each instance builds
        the messages of the topics it has subscribers for.
        """

    async def subscribe(self, topic: str) -> Subscription: ...

    async def close(self) -> None: ...
