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


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | ConnectionError | OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    name = type(exc).__name__
    return name in {"ConnectionDoesNotExistError", "CannotConnectNowError", "InterfaceError"}


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
