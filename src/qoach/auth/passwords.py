"""argon2id hashing, always off the event loop (each call costs tens of ms of CPU)."""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from starlette.concurrency import run_in_threadpool

from qoach.config import get_settings


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
    return await run_in_threadpool(_current().hash, password)


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
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = await hash_password("not-a-real-password")
        await run_in_threadpool(_current().verify, password, _DUMMY_HASH)
        return False, None
    return await run_in_threadpool(_current().verify_and_update, password, password_hash)
