"""Losing Redis pub/sub: the broker resubscribes and open sockets catch up from the database."""

from __future__ import annotations

import asyncio

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


async def test_a_socket_held_across_a_killed_pubsub_connection_misses_nothing(
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
            # one bus subscription per process, however many sockets
            (killed,) = await _our_pubsub_ids(admin, broker.client_name)

            # only this run's connection: other test runs share the Redis server
            assert await admin.client_kill_filter(_id=str(killed)) == 1
            created = []
            for _ in range(6):  # across the drop and the resubscription: some lost live
                created += [row.id for row in await make_notifications(db, app, alice)]
                await asyncio.sleep(0.05)

            # the broker resubscribes by itself and the socket catches up from the
            # database: every one arrives, once, without the client reconnecting
            received = [n["id"] for n in await sock.notifications(len(created), within=10)]
            assert sorted(received) == created
            await sock.nothing(0.5)
            reconnected = await _our_pubsub_ids(admin, broker.client_name)
            assert len(reconnected) == 1 and killed not in reconnected

            (after,) = await make_notifications(db, app, alice)
            assert (await sock.next(1))["data"]["id"] == after.id
            await sock.nothing()
    finally:
        await admin.aclose()
