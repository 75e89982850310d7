"""Helpers for the auth, users and health tests: extra apps, clients, broker topics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from qoach.broker import Broker, Subscription
from qoach.config import Settings
from qoach.notifications.events import user_topic


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """Another app instance (own engine and broker) with these settings, started."""
    from qoach.main import create_app

    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@asynccontextmanager
async def client_for(
    application: FastAPI, address: str = "127.0.0.1", *, raise_app_exceptions: bool = True
) -> AsyncIterator[AsyncClient]:
    """A client of `application`; `raise_app_exceptions=False` behaves like a real server
    (Starlette re-raises an exception after the 500/503 handler has answered)."""
    transport = ASGITransport(
        app=application, client=(address, 50000), raise_app_exceptions=raise_app_exceptions
    )
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@asynccontextmanager
async def user_topic_messages(broker: Broker, user_id: int) -> AsyncIterator[Subscription]:
    subscription = await broker.subscribe(user_topic(user_id))
    try:
        yield subscription
    finally:
        await subscription.close()


async def next_message(subscription: Subscription, wait_seconds: float = 3.0) -> dict[str, Any]:
    iterator = subscription.__aiter__()
    raw = await asyncio.wait_for(iterator.__anext__(), wait_seconds)
    message: dict[str, Any] = json.loads(raw)
    return message


async def session_revoked_message(subscription: Subscription) -> dict[str, Any]:
    """The next `session_revoked` message on the topic (others are skipped)."""
    while True:
        message = await next_message(subscription)
        if message["type"] == "session_revoked":
            return message


async def fetch_session_row(db: Any, session_id: int) -> Any:
    """The auth_sessions row as the database holds it now (ends the read transaction)."""
    from sqlalchemy import select

    from qoach.models import AuthSession

    row = (
        await db.scalars(
            select(AuthSession)
            .where(AuthSession.id == session_id)
            .execution_options(populate_existing=True)
        )
    ).one()
    await db.commit()
    return row
