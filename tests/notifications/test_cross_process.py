"""Two real app processes on PostgreSQL + Redis: an event on one reaches sockets on the other."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest
from httpx import AsyncClient

from tests.factories import Factory
from tests.notifications.conftest import free_port, open_socket, ws_url

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


async def _wait_ready(base: str, process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        deadline = time.monotonic() + 30
        while True:
            if process.returncode is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"app process did not start:\n{log.read().decode()}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


@asynccontextmanager
async def app_process() -> AsyncIterator[str]:
    """`uvicorn qoach.main:create_app --factory` on a free port, with the test environment."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "qoach.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            cwd=ROOT,
            env=dict(os.environ),  # DATABASE_URL, REDIS_URL, REDIS_PREFIX, SECRET_KEY of the run
            stdout=log,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            await _wait_ready(base, process, log)
            yield base
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()


QUIZ = {
    "title": "Fire safety",
    "frequency_days": 7,
    "questions": [
        {
            "text": "Exit?",
            "answers": [
                {"text": "Door", "is_correct": True},
                {"text": "Window", "is_correct": False},
            ],
        },
        {
            "text": "Call?",
            "answers": [{"text": "112", "is_correct": True}, {"text": "0", "is_correct": False}],
        },
    ],
}


async def test_a_quiz_created_on_one_process_reaches_a_socket_on_the_other(
    client: AsyncClient, factory: Factory
) -> None:
    owner, member = await factory.user(), await factory.user()
    company = await factory.company(owner, members=[member])
    member_token, member_refresh, _ = await factory.tokens(member)
    owner_headers = await factory.headers(owner)

    async with app_process() as first, app_process() as second:
        socket_url = ws_url(first.replace("http", "ws", 1) + "/ws/notifications", member_token)
        async with (
            open_socket(socket_url) as sock,
            httpx.AsyncClient(base_url=second, timeout=10) as other,
        ):
            response = await other.post(
                f"/companies/{company.id}/quizzes", json=QUIZ, headers=owner_headers
            )
            assert response.status_code == 201, response.text
            sent = time.monotonic()
            message = await sock.next(within=1.0)
            latency = time.monotonic() - sent
            assert message["type"] == "notification"
            assert message["data"]["kind"] == "quiz_created"
            assert message["data"]["payload"]["quiz_id"] == response.json()["id"]
            assert latency < 1.0

            # reads and logouts done through the other process reach this socket too
            member_headers = {"Authorization": f"Bearer {member_token}"}
            read = await other.post(
                f"/notifications/{message['data']['id']}/read", headers=member_headers
            )
            assert read.status_code == 200
            assert await sock.next(within=1.0) == {
                "type": "read",
                "data": {"ids": [message["data"]["id"]]},
            }
            logout = await other.post(
                "/auth/logout", json={"refresh_token": member_refresh}, headers=member_headers
            )
            assert logout.status_code == 204, logout.text
            assert await sock.closed_with(within=2.0) == 4401
