"""Cache, counters, locks and pub/sub behind one interface (Redis or in-process)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qoach.broker.base import Broker, BrokerUnavailable, Subscription
from qoach.config import Settings


def create_broker(settings: Settings) -> Broker:
    if settings.redis_url:
        from qoach.broker.redis import RedisBroker

        return RedisBroker(settings.redis_url, prefix=settings.redis_prefix)
    from qoach.broker.memory import MemoryBroker

    return MemoryBroker()


def get_broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


BrokerDep = Annotated[Broker, Depends(get_broker)]

__all__ = ["Broker", "BrokerDep", "BrokerUnavailable", "Subscription", "create_broker"]
