"""Losing Redis pub/sub: the broker resubscribes, and `since` recovers the gap."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests import lanes
from tests.factories import Factory
from tests.notifications.conftest import LiveServer, open_socket, ws_url
from tests.notifications.helpers import make_notifications

pytestmark = pytest.mark.postgres_only


async def _our_pubsub_ids(admin: aioredis.Redis, name: str) -> set[int]:
    clients = await admin.client_list(_type="pubsub")
    return {int(c["id"]) for c in clients if c.get("name") == name}


async def test_subscription_survives_a_killed_pubsub_connection(
    live_server: LiveServer, client: AsyncClient, factory: Factory, db: AsyncSession, app: FastAPI
) -> None:
    broker = app.state.broker
    alice, bob = await factory.user(), await factory.user()
    alice_token, _, _ = await factory.tokens(alice)
    bob_token, _, _ = await factory.tokens(bob)
    admin = aioredis.Redis.from_url(lanes.REDIS_URL, decode_responses=True)
    try:
        async with (
            open_socket(ws_url(live_server.ws_url, alice_token)) as sock,
            open_socket(ws_url(live_server.ws_url, bob_token)),
        ):
            (before,) = await make_notifications(db, app, alice)
            assert (await sock.next())["data"]["id"] == before.id
            # one pattern subscription per process, however many sockets
            (killed,) = await _our_pubsub_ids(admin, broker.client_name)

            # only this run's connection: other test runs share the Redis server
            assert await admin.client_kill_filter(_id=str(killed)) == 1
            (during,) = await make_notifications(db, app, alice)  # may be lost live
            created, live = [during.id], []

            async def drain(seconds: float) -> None:
                with contextlib.suppress(TimeoutError):
                    while True:
                        live.append((await sock.next(seconds))["data"]["id"])

            # the broker resubscribes by itself: a notification gets through again
            async with asyncio.timeout(15):
                while not live or live[-1] != created[-1]:
                    (probe,) = await make_notifications(db, app, alice)
                    created.append(probe.id)
                    await drain(0.3)
            reconnected = await _our_pubsub_ids(admin, broker.client_name)
            assert len(reconnected) == 1 and killed not in reconnected

            (after,) = await make_notifications(db, app, alice)
            created.append(after.id)
            async with asyncio.timeout(1):
                while after.id not in live:
                    live.append((await sock.next(1))["data"]["id"])
            assert len(live) == len(set(live)) and set(live) <= set(created)

        # a reconnecting client recovers whatever the drop cost it
        async with open_socket(ws_url(live_server.ws_url, alice_token, since=before.id)) as again:
            assert [n["id"] for n in await again.notifications(len(created))] == created
            await again.nothing()
    finally:
        await admin.aclose()
