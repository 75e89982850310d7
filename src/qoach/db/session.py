"""One session and one transaction per request, committed before the response.

Side effects (publishing to the broker, notifying sockets) are registered with
`after_commit(session, fn)` while the request runs and executed only once the
commit succeeded; a rollback drops them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qoach.errors import Conflict

logger = logging.getLogger("qoach.db")

AfterCommit = Callable[[], Awaitable[None]]
_HOOKS_KEY = "qoach_after_commit"


def after_commit(session: AsyncSession, fn: AfterCommit) -> None:
    """Run `fn` after this session's transaction commits; dropped on rollback."""
    session.info.setdefault(_HOOKS_KEY, []).append(fn)


async def run_after_commit(session: AsyncSession) -> None:
    hooks: list[AfterCommit] = session.info.pop(_HOOKS_KEY, [])
    for hook in hooks:
        try:
            await hook()
        except Exception:  # a side effect must never undo or fail a committed request
            logger.exception("after-commit hook failed")


def discard_after_commit(session: AsyncSession) -> None:
    session.info.pop(_HOOKS_KEY, None)


async def commit(session: AsyncSession) -> None:
    """Commit, translate database failures, then run the after-commit hooks."""
    try:
        await session.commit()
    except IntegrityError as exc:
        discard_after_commit(session)
        await session.rollback()
        raise Conflict("The change conflicts with the current state", code="conflict") from exc
    await run_after_commit(session)


# SQLSTATEs that mean "the server is not there right now", not "your query is wrong":
# class 08 (connection exception), admin / crash shutdown, starting up or shutting
# down (cannot_connect_now), too many connections
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
_UNAVAILABLE_NAMES = frozenset(
    {"ConnectionDoesNotExistError", "CannotConnectNowError", "InterfaceError"}
)


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc`, the driver error SQLAlchemy wrapped (`.orig`) and their explicit causes."""
    chain: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending and len(chain) < 10:
        current = pending.pop()
        if current is None or any(current is seen for seen in chain):
            continue
        chain.append(current)
        pending += [getattr(current, "orig", None), current.__cause__]
    return chain


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | OSError):  # ConnectionError, TimeoutError too
        return True
    if isinstance(exc, PoolTimeout):  # every pooled connection busy: overload, not a bug
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    return type(exc).__name__ in _UNAVAILABLE_NAMES


def is_connection_error(exc: BaseException) -> bool:
    """True when `exc` (or the driver error behind it) means the database is unreachable.

    asyncpg's errors arrive wrapped: "the database system is starting up" is a plain
    `DBAPIError` whose `.orig` came from `CannotConnectNowError` (SQLSTATE 57P03).
    """
    return any(_unavailable(cause) for cause in _causes(exc))


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        try:
            yield session
        except BaseException:
            discard_after_commit(session)
            await session.rollback()
            raise
        await commit(session)


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.read_sessionmaker
    async with maker() as session:
        try:
            yield session
        finally:
            await session.rollback()


# scope="function": the commit happens before the response is sent, so a client
# never sees a 2xx for a write that then failed to commit.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(_read_session, scope="function")]
