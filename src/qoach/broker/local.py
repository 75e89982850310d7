"""This process's subscribers, by topic: what both back ends deliver into."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable, Sequence

from qoach.broker.base import RESYNC

logger = logging.getLogger("qoach.broker")

QUEUE_SIZE = 10_000


class QueueSubscription:
    """A bounded buffer of one topic's messages for ONE consumer; a consumer that falls
    `QUEUE_SIZE` behind loses messages and is told so with `RESYNC`.

    (A deque and one waiter rather than an `asyncio.Queue`: a fan-out offers a
    message to thousands of subscriptions in one go, and this is the hot path.)
    """

    def __init__(self, topics: LocalTopics, topic: str) -> None:
        self._topics = topics
        self.topic = topic
        self._items: deque[str | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._missed = False
        self._closed = False
        # set by a back end between telling this subscription OUTAGE and RESYNC
        self.stale = False

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        # a plain method, not an async generator: cancelling a wait (e.g. in
        # asyncio.timeout) leaves the subscription usable
        if self._missed:
            self._missed = False
            return RESYNC
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = self._items.popleft()
        if message is None:
            self._closed = True
            raise StopAsyncIteration
        return message

    def empty(self) -> bool:
        return not self._items

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def offer(self, message: str) -> None:
        if self._closed:
            return
        if len(self._items) >= QUEUE_SIZE:
            if not self._missed:
                logger.warning("subscriber of %s is not reading; messages dropped", self.topic)
            self._missed = True
            return
        self._items.append(message)
        self._wake()

    async def close(self) -> None:
        self._topics.discard(self)
        self._items.append(None)  # after what is buffered
        self._wake()


class LocalTopics:
    def __init__(self) -> None:
        self.subscribers: dict[str, set[QueueSubscription]] = defaultdict(set)

    def add(self, topic: str) -> QueueSubscription:
        subscription = QueueSubscription(self, topic)
        self.subscribers[topic].add(subscription)
        return subscription

    def discard(self, subscription: QueueSubscription) -> None:
        subscribers = self.subscribers.get(subscription.topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self.subscribers[subscription.topic]

    def all(self) -> list[QueueSubscription]:
        return [s for subscribers in self.subscribers.values() for s in subscribers]

    def deliver(self, topic: str, message: str) -> None:
        for subscription in self.subscribers.get(topic, ()):
            subscription.offer(message)

    def deliver_template(self, head: str, tail: str, parts: Iterable[Sequence[str]]) -> None:
        subscribers = self.subscribers
        for topic, middle in parts:
            targets = subscribers.get(topic)
            if targets:
                message = head + middle + tail
                for subscription in targets:
                    subscription.offer(message)

    def mark(self, marker: str, subscriptions: Iterable[QueueSubscription] | None = None) -> None:
        for subscription in self.all() if subscriptions is None else subscriptions:
            subscription.offer(marker)

    async def close_all(self) -> None:
        for subscription in self.all():
            await subscription.close()
