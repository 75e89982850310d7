"""Password hashing runs in its own low-priority pool, capped, and 503s beyond its queue.

Deterministic: the pool's threads are held by jobs waiting on an event, so what is
running and what waits is known; no assertion is about time.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from httpx import AsyncClient

from qoach.auth import passwords
from qoach.auth.passwords import (
    THREAD_NAME_PREFIX,
    PasswordHashPool,
    default_max_concurrent,
    hash_password,
    use_hash_pool,
    verify_and_update_password,
)
from qoach.auth.ratelimit import account_key
from qoach.config import Settings
from tests.factories import PASSWORD, Factory

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="per-thread nice is Linux's"
)


@dataclass
class Held:
    """A pool whose threads are all held by jobs waiting on `release`."""

    pool: PasswordHashPool
    release: threading.Event = field(default_factory=threading.Event)
    blockers: list[asyncio.Task[Any]] = field(default_factory=list)

    async def hold(self, jobs: int) -> None:
        for _ in range(jobs):
            self.blockers.append(asyncio.create_task(self.pool.run(self.release.wait)))
        await wait_for_pending(self.pool, len(self.blockers))

    async def let_go(self) -> None:
        self.release.set()
        await asyncio.gather(*self.blockers)


async def wait_for_pending(pool: PasswordHashPool, count: int) -> None:
    """Yield until `count` calls are in the pool (a state, not a duration)."""
    for _ in range(2_000):
        if pool.pending >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"the pool never reached {count} pending calls ({pool.pending})")


@pytest.fixture
async def held() -> AsyncIterator[Held]:
    """One hashing thread and one queue place, swapped in for the process's pool."""
    pool = PasswordHashPool(max_concurrent=1, max_queued=1, nice=10)
    state = Held(pool)
    with use_hash_pool(pool):
        try:
            yield state
        finally:
            state.release.set()
            await asyncio.gather(*state.blockers, return_exceptions=True)
            pool.shutdown()


def _thread_facts() -> tuple[str, int]:
    return (
        threading.current_thread().name,
        os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
    )


@linux_only
async def test_pool_threads_run_at_a_lower_priority_and_the_loop_does_not() -> None:
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    pool = PasswordHashPool(max_concurrent=2, max_queued=0, nice=10)
    try:
        name, nice = await pool.run(_thread_facts)
    finally:
        pool.shutdown()
    assert name.startswith(THREAD_NAME_PREFIX)
    assert nice == max(loop_nice, 10)
    # nice is per thread: the event loop's own thread keeps its priority
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_nice


@pytest.mark.parametrize(
    "call",
    [
        lambda: hash_password("another-password"),
        lambda: verify_and_update_password(PASSWORD, passwords._current().hash(PASSWORD)),
        lambda: verify_and_update_password(PASSWORD, None),  # unknown email: a dummy verify
    ],
    ids=["hash", "verify", "verify-unknown-account"],
)
async def test_hashing_goes_through_the_dedicated_pool(
    held: Held, call: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "_DUMMY_HASH", passwords._current().hash("not-a-real-pw"))
    await held.hold(1)  # the only thread is busy
    task = asyncio.ensure_future(call())
    await wait_for_pending(held.pool, 2)  # it waits in this pool's queue
    assert not task.done()
    await held.let_go()
    await task
    assert held.pool.pending == 0


async def test_beyond_the_queue_a_call_is_refused_at_once(held: Held) -> None:
    await held.hold(2)  # one running, one queued: the pool is full
    with pytest.raises(passwords.PasswordHashingBusy) as refused:
        await hash_password("one-too-many")
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "1"}
    await held.let_go()
    assert await hash_password("room-again")


async def test_login_waits_for_a_thread_then_503_beyond_the_queue(
    held: Held, client: AsyncClient, factory: Factory, settings: Settings, clean_app: Any
) -> None:
    alice = await factory.user(email="alice@example.com")
    bob = await factory.user(email="bob@example.com")
    await held.hold(1)  # the thread is busy; one queue place left

    queued = asyncio.ensure_future(
        client.post("/auth/login", json={"email": alice.email, "password": PASSWORD})
    )
    await wait_for_pending(held.pool, 2)
    refused = await client.post("/auth/login", json={"email": bob.email, "password": PASSWORD})
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["code"] == "service_unavailable"
    # a refused login is not a failed one
    count, _ = await clean_app.state.broker.counter_get(account_key(bob.email))
    assert count == 0

    await held.let_go()
    assert (await queued).status_code == 200  # the queued login went through
    again = await client.post("/auth/login", json={"email": bob.email, "password": PASSWORD})
    assert again.status_code == 200


async def test_register_and_password_change_are_503_when_the_pool_is_full(
    held: Held, client: AsyncClient, factory: Factory
) -> None:
    user = await factory.user()
    headers = await factory.headers(user)
    await held.hold(2)

    registered = await client.post(
        "/auth/register", json={"email": "new@example.com", "password": "long-enough-1"}
    )
    assert registered.status_code == 503
    assert registered.headers["Retry-After"] == "1"
    changed = await client.patch(
        "/users/me",
        json={"password": "a-new-password", "current_password": PASSWORD},
        headers=headers,
    )
    assert changed.status_code == 503

    await held.let_go()
    registered = await client.post(
        "/auth/register", json={"email": "new@example.com", "password": "long-enough-1"}
    )
    assert registered.status_code == 201


def test_the_pool_takes_its_limits_from_the_settings(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "password_hash_max_concurrent": 3,
            "password_hash_max_queued": 5,
            "password_hash_thread_nice": 7,
        }
    )
    pool = PasswordHashPool.from_settings(configured)
    try:
        assert (pool.max_concurrent, pool.max_queued, pool.nice) == (3, 5, 7)
    finally:
        pool.shutdown()
    unset = settings.model_copy(update={"password_hash_max_concurrent": None})
    pool = PasswordHashPool.from_settings(unset)
    try:
        assert pool.max_concurrent == default_max_concurrent()
        assert 1 <= pool.max_concurrent <= 2
    finally:
        pool.shutdown()


async def test_the_openapi_documents_the_503_with_retry_after(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path, method in (
        ("/auth/login", "post"),
        ("/auth/register", "post"),
        ("/users/me", "patch"),
        ("/users/me", "put"),
    ):
        response = paths[path][method]["responses"]["503"]
        assert "Retry-After" in response["headers"], (path, method)
        assert "hashing" in response["description"]
