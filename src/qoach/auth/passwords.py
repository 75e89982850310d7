"""argon2id hashing, always off the event loop (each call costs tens of ms of CPU)."""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from starlette.concurrency import run_in_threadpool

from qoach.config import get_settings


@lru_cache
def _hasher(memory_cost: int, time_cost: int) -> PasswordHash:
    return PasswordHash((Argon2Hasher(memory_cost=memory_cost, time_cost=time_cost),))


def _current() -> PasswordHash:
    settings = get_settings()
    return _hasher(settings.password_hash_memory_cost, settings.password_hash_time_cost)


# A real hash to verify against when the account does not exist, so that an
# unknown email costs the same time as a wrong password.
_DUMMY_HASH: str | None = None


async def hash_password(password: str) -> str:
    return await run_in_threadpool(_current().hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    global _DUMMY_HASH
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = await hash_password("not-a-real-password")
        await run_in_threadpool(_current().verify, password, _DUMMY_HASH)
        return False
    return await run_in_threadpool(_current().verify, password, password_hash)
