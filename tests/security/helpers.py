"""The app's routes as (method, path) pairs, a live server for WebSockets, a request log."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path template) the app serves; WebSocket routes as ("WS", path)."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path
        assert path is not None
        if isinstance(context.original_route, WebSocketRoute) or context.methods is None:
            found.add(("WS", path))
            continue
        found.update((method, path) for method in context.methods)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def live_server(app: FastAPI) -> AsyncIterator[str]:
    """uvicorn serving the already started `app` in this event loop: its base ws:// URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started and not task.done():
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start")
        await asyncio.sleep(0.02)
    if task.done():
        task.result()
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def ws_outcome(url: str, within: float = 3.0) -> tuple[str, Any]:
    """("closed", close code) or ("message", the first non-ping message)."""
    try:
        async with connect(url, open_timeout=5, close_timeout=2) as conn:
            async with asyncio.timeout(within):
                while True:
                    message = json.loads(await conn.recv())
                    if message.get("type") != "ping":
                        return "message", message
    except ConnectionClosed as exc:
        return "closed", exc.rcvd.code if exc.rcvd else None


class RequestLog:
    """A local HTTP server that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        # what it answers (a JWKS document when it stands in for a tenant)
        self.body = json.dumps({"keys": []}).encode()
        log = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                log.requests.append(f"{self.command} {self.path}")
                body = log.body
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> RequestLog:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
