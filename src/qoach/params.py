"""Integer id parameters, bounded to what the database columns hold.

Every id column is a 32-bit `INTEGER`; asyncpg refuses a larger Python int when it
encodes the query (a 500 if it got that far). An id outside 1..2^31-1 therefore
never reaches the database: it is a 422 in FastAPI's usual shape. Every id in a
path or a query uses one of these (tests/security/test_bounds.py walks the
OpenAPI schema to hold every integer parameter to it).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2_147_483_647

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]

CompanyIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Company id.")]
UserIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="User id.")]
QuizIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="The quiz id.")]
AttemptIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="The attempt id.")]
InvitationIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Invitation id.")]
RequestIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Join request id.")]
NotificationIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Notification id.")]

CompanyIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this company.")]
UserIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this user.")]
QuizIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this quiz.")]
