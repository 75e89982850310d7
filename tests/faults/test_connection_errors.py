"""Which database errors mean "unavailable" (503), as the fault tests met them.

The shapes are the ones PostgreSQL + asyncpg + SQLAlchemy produced in
test_postgres_down.py: asyncpg's error, adapted by SQLAlchemy's dialect (`raise
adapted from error`), wrapped in a `DBAPIError` whose `.orig` is the adapted one.
"""

from __future__ import annotations

import asyncpg.exceptions as pg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi as adapter
from sqlalchemy.exc import DBAPIError, IntegrityError

from qoach.db.session import is_connection_error


def _wrapped(error: Exception, outer: type[DBAPIError] = DBAPIError) -> DBAPIError:
    """The chain SQLAlchemy builds around an asyncpg error."""
    adapted = adapter.Error(str(error), error)  # type: ignore[no-untyped-call]
    adapted.__cause__ = error
    wrapped = outer("SELECT 1", None, adapted)
    wrapped.__cause__ = adapted
    return wrapped


@pytest.mark.parametrize(
    "error",
    [
        pg.CannotConnectNowError("the database system is starting up"),
        pg.CannotConnectNowError("the database system is not yet accepting connections"),
        pg.CannotConnectNowError("the database system is shutting down"),
        pg.AdminShutdownError("terminating connection due to administrator command"),
        pg.CrashShutdownError("terminating connection because of crash of another server process"),
        pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        pg.ConnectionFailureError("connection failure"),
        pg.TooManyConnectionsError("sorry, too many clients already"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_server_going_away_is_a_connection_error(error: Exception) -> None:
    assert is_connection_error(_wrapped(error))


@pytest.mark.parametrize(
    "error",
    [ConnectionRefusedError(111, "Connection refused"), ConnectionResetError(), TimeoutError()],
)
def test_socket_errors_raised_as_they_are_are_connection_errors(error: Exception) -> None:
    assert is_connection_error(error)


@pytest.mark.parametrize(
    ("error", "outer"),
    [
        (pg.UniqueViolationError("duplicate key value"), IntegrityError),
        (pg.UndefinedColumnError('column "x" does not exist'), DBAPIError),
        (pg.DivisionByZeroError("division by zero"), DBAPIError),
    ],
    ids=["unique", "undefined_column", "division_by_zero"],
)
def test_errors_of_the_query_itself_are_not(error: Exception, outer: type[DBAPIError]) -> None:
    assert not is_connection_error(_wrapped(error, outer))


def test_an_unrelated_error_is_not() -> None:
    assert not is_connection_error(ValueError("bad"))
    assert not is_connection_error(RuntimeError("boom"))
