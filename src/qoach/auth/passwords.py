"""argon2id hashing, off the event loop, in a small thread pool of its own.

Each hash or verification costs tens of ms of CPU (argon2 releases the GIL, so it
runs beside the event loop). Three things keep a login storm from starving every
other request (bench/RESULTS.md, issue 8):

- the pool's threads lower their own CPU priority (`nice`, per thread on Linux): when
  the event loop and a hash want the same core, the loop wins;
- at most `PASSWORD_HASH_MAX_CONCURRENT` hashes run at once per process (default: the
  CPUs the process may run on, at most 2), so they cannot take every core either;
- at most `PASSWORD_HASH_MAX_QUEUED` more wait; beyond that the request is answered
  503 with `Retry-After` at once (`PasswordHashingBusy`) instead of piling up work
  (and 19 MiB of memory per running hash).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from qoach.config import Settings, get_settings
from qoach.errors import ServiceUnavailable

logger = logging.getLogger("qoach.auth")

T = TypeVar("T")

THREAD_NAME_PREFIX = "qoach-password-hash"
RETRY_AFTER_SECONDS = 1


class PasswordHashingBusy(ServiceUnavailable):
    """503: every password-hashing slot and queue place of this process is taken."""

    def __init__(self) -> None:
        super().__init__(
            "Too many password checks at once; retry shortly",
            retry_after=RETRY_AFTER_SECONDS,
        )


def lower_thread_priority(nice: int) -> None:
    """Give the calling thread a niceness of at least `nice` (Linux; elsewhere a no-op).

    On Linux a thread is its own scheduling entity: `setpriority(PRIO_PROCESS, tid)`
    changes that thread only, not the event loop's. Other systems would read the
    thread id as a process id, so nothing is done there.
    """
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError as exc:  # e.g. a sandbox without the syscall: hash at normal priority
        logger.warning("could not lower the password-hashing thread's priority: %s", exc)


def default_max_concurrent() -> int:
    """The CPUs this process may run on (its affinity), at most 2."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return max(1, min(2, usable))


class PasswordHashPool:
    """A thread pool for password hashing with a bounded number of waiting calls.

    `run` is for the event loop only (its counter is not locked). A caller cancelled
    while its hash runs frees its place at once, though the thread finishes the hash:
    the threads still never run more than `max_concurrent` hashes at a time.
    """

    def __init__(self, *, max_concurrent: int, max_queued: int, nice: int) -> None:
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.nice = nice
        self._executor = ThreadPoolExecutor(
            max_workers=max_concurrent,
            thread_name_prefix=THREAD_NAME_PREFIX,
            initializer=lower_thread_priority,
            initargs=(nice,),
        )
        self._pending = 0  # calls admitted and not finished: running + queued

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHashPool:
        return cls(
            max_concurrent=settings.password_hash_max_concurrent or default_max_concurrent(),
            max_queued=settings.password_hash_max_queued,
            nice=settings.password_hash_thread_nice,
        )

    @property
    def pending(self) -> int:
        """Calls running or waiting now."""
        return self._pending

    def has_room(self) -> bool:
        return self._pending < self.max_concurrent + self.max_queued

    def check_room(self) -> None:
        """Raise `PasswordHashingBusy` now when a call would be refused (saves the work
        before it, e.g. a login's user lookup); `run` checks again."""
        if not self.has_room():
            raise PasswordHashingBusy()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        self.check_room()
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._pending -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_POOL: PasswordHashPool | None = None


def hash_pool() -> PasswordHashPool:
    """This process's pool, made from the settings on first use."""
    global _POOL
    if _POOL is None:
        _POOL = PasswordHashPool.from_settings(get_settings())
    return _POOL


@contextmanager
def use_hash_pool(pool: PasswordHashPool) -> Iterator[PasswordHashPool]:
    """Hash through `pool` inside the block (tests); the previous pool comes back after."""
    global _POOL
    previous, _POOL = _POOL, pool
    try:
        yield pool
    finally:
        _POOL = previous


@lru_cache
def _hasher(memory_cost: int, time_cost: int, parallelism: int) -> PasswordHash:
    return PasswordHash(
        (Argon2Hasher(memory_cost=memory_cost, time_cost=time_cost, parallelism=parallelism),)
    )


def _current() -> PasswordHash:
    settings = get_settings()
    return _hasher(
        settings.password_hash_memory_cost,
        settings.password_hash_time_cost,
        settings.password_hash_parallelism,
    )


# A real hash to verify against when the account does not exist, so that an
# unknown email costs the same time as a wrong password.
_DUMMY_HASH: str | None = None


async def hash_password(password: str) -> str:
    return await hash_pool().run(_current().hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    valid, _ = await verify_and_update_password(password, password_hash)
    return valid


async def verify_and_update_password(
    password: str, password_hash: str | None
) -> tuple[bool, str | None]:
    """(valid, new hash or None): a new hash when `password_hash` used other parameters.

    The parameters are read from the hash itself, so hashes made under an older
    cost still verify; the caller stores the returned hash to move them to the new one.
    """
    global _DUMMY_HASH
    pool = hash_pool()
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = await hash_password("not-a-real-password")
        await pool.run(_current().verify, password, _DUMMY_HASH)
        return False, None
    return await pool.run(_current().verify_and_update, password, password_hash)
