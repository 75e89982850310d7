"""A real uvicorn server on the shared app, and a small WebSocket client."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until(predicate: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


@dataclass
class LiveServer:
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/notifications"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[LiveServer]:
    """uvicorn serving an already-started `app` on a free port, in this event loop."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), within=10)
    if task.done():
        task.result()
    try:
        yield LiveServer(port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture(scope="session")
async def live_server(app: FastAPI) -> AsyncIterator[LiveServer]:
    """The shared (already started) `app` behind a real uvicorn server."""
    async with serving(app) as live:
        yield live


def ws_url(
    base: str, token: str | None = None, since: int | str | None = None, **extra: str
) -> str:
    params: dict[str, Any] = dict(extra)
    if token is not None:
        params["token"] = token
    if since is not None:
        params["since"] = since
    return f"{base}?{urlencode(params)}" if params else base


class Socket:
    """A client socket with helpers that skip heartbeats."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    async def next(self, within: float = 2.0) -> dict[str, Any]:
        """The next non-ping message."""
        async with asyncio.timeout(within):
            while True:
                message: dict[str, Any] = json.loads(await self.conn.recv())
                if message["type"] != "ping":
                    return message

    async def nothing(self, wait: float = 0.3) -> None:
        """Assert no non-ping message arrives within `wait` seconds."""
        try:
            message = await self.next(wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")

    async def notifications(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async with asyncio.timeout(within):
            while len(out) < count:
                message = await self.next(within)
                assert message["type"] == "notification", message
                out.append(message["data"])
        return out

    async def closed_with(self, within: float = 3.0) -> int | None:
        """Read until the server closes; return the close code."""
        async with asyncio.timeout(within):
            try:
                while True:
                    await self.conn.recv()
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None


@asynccontextmanager
async def open_socket(url: str, **kwargs: Any) -> AsyncIterator[Socket]:
    async with connect(url, open_timeout=5, close_timeout=2, **kwargs) as conn:
        yield Socket(conn)
