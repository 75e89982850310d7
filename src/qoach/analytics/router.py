"""Analytics: the caller's own numbers, company dashboards for staff, item analysis.

Every endpoint takes `from` / `to` (both inclusive) and is computed afresh from
the database on each request (no cache), so a new attempt shows up immediately.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from qoach.analytics import service
from qoach.analytics.schemas import (
    Bucket,
    CompanyAnalytics,
    LastAttempt,
    LeaderboardEntry,
    MemberAnalytics,
    QuizAnalytics,
    TimelinePoint,
    UserAnalytics,
)
from qoach.auth.dependencies import CurrentUser
from qoach.companies.permissions import Action, CompanyAccess, require
from qoach.companies.schemas import errors
from qoach.dates import DateRangeDep
from qoach.db.session import ReadSessionDep
from qoach.pagination import Page, PageDep
from qoach.params import IdPath, IdQuery

router = APIRouter(tags=["analytics"])

Id = IdPath
OptionalId = IdQuery
BucketQuery = Annotated[
    Bucket, Query(description="Bucket size (UTC; weeks start on Monday; months on the 1st).")
]
StaffAccess = Annotated[CompanyAccess, require(Action.analytics_read)]
MemberAccess = Annotated[CompanyAccess, require(Action.leaderboard_read)]

_AVERAGE_NOTE = (
    "An average score is Σ correct_count / Σ question_count over the attempts "
    "(0–1; null without attempts). Computed on every request (not cached)."
)


@router.get(
    "/users/me/analytics",
    response_model=UserAnalytics,
    status_code=status.HTTP_200_OK,
    summary="The caller's rating and per-quiz averages",
    description=f"{_AVERAGE_NOTE} With `company_id`, only the caller's attempts in that "
    "company count (an unknown company simply has none).",
    responses=errors(),
)
async def my_analytics(
    session: ReadSessionDep,
    user: CurrentUser,
    dates: DateRangeDep,
    company_id: OptionalId = None,
) -> UserAnalytics:
    return await service.user_analytics(session, user, dates, company_id)


@router.get(
    "/users/me/analytics/timeline",
    response_model=list[TimelinePoint],
    status_code=status.HTTP_200_OK,
    summary="The caller's average score per day, week or month",
    description=f"{_AVERAGE_NOTE} Buckets without attempts are left out; ascending.",
    responses=errors(),
)
async def my_timeline(
    session: ReadSessionDep,
    user: CurrentUser,
    dates: DateRangeDep,
    quiz_id: OptionalId = None,
    bucket: BucketQuery = Bucket.day,
) -> list[TimelinePoint]:
    return await service.timeline(session, dates, bucket, user_id=user.id, quiz_id=quiz_id)


@router.get(
    "/companies/{company_id}/analytics",
    response_model=CompanyAnalytics,
    status_code=status.HTTP_200_OK,
    summary="Company average with per-member and per-quiz breakdowns (staff)",
    description=f"{_AVERAGE_NOTE} The company totals count every attempt made in the "
    "company, including those of people who have left it since; `members` lists current "
    "members only. `members` and `quizzes` are whole arrays (not paginated): every member "
    "and every quiz, with `attempts: 0` and a null average when nothing is in range.",
    responses=errors(403, 404),
)
async def company_analytics(
    company_id: Id, access: StaffAccess, session: ReadSessionDep, dates: DateRangeDep
) -> Response:
    # pre-encoded `CompanyAnalytics` (response_model documents it)
    body = await service.company_analytics(session, company_id, dates)
    return Response(body, media_type="application/json")


@router.get(
    "/companies/{company_id}/analytics/timeline",
    response_model=list[TimelinePoint],
    status_code=status.HTTP_200_OK,
    summary="Company average score per day, week or month (staff)",
    description=f"{_AVERAGE_NOTE} Over all attempts in the company (former members "
    "included), optionally of one user and / or one quiz. Empty buckets are left out.",
    responses=errors(403, 404),
)
async def company_timeline(
    company_id: Id,
    access: StaffAccess,
    session: ReadSessionDep,
    dates: DateRangeDep,
    user_id: OptionalId = None,
    quiz_id: OptionalId = None,
    bucket: BucketQuery = Bucket.day,
) -> list[TimelinePoint]:
    return await service.timeline(
        session, dates, bucket, company_id=company_id, user_id=user_id, quiz_id=quiz_id
    )


@router.get(
    "/companies/{company_id}/analytics/users/{user_id}",
    response_model=MemberAnalytics,
    status_code=status.HTTP_200_OK,
    summary="One member's average and per-quiz breakdown (staff)",
    description=f"{_AVERAGE_NOTE} `quizzes` lists every quiz of the company (a whole "
    "array). 404 when `user_id` is not a current member.",
    responses=errors(403, 404),
)
async def member_analytics(
    company_id: Id,
    user_id: Id,
    access: StaffAccess,
    session: ReadSessionDep,
    dates: DateRangeDep,
) -> MemberAnalytics:
    return await service.member_analytics(session, company_id, user_id, dates)


@router.get(
    "/companies/{company_id}/analytics/last-attempts",
    response_model=Page[LastAttempt],
    status_code=status.HTTP_200_OK,
    summary="Every member's latest attempt time (staff)",
    description="Every current member with their latest attempt in the company within the "
    "range (null if none), latest first, members without attempts last, then by user id.",
    responses=errors(403, 404),
)
async def last_attempts(
    company_id: Id,
    access: StaffAccess,
    session: ReadSessionDep,
    dates: DateRangeDep,
    page: PageDep,
) -> Page[LastAttempt]:
    return await service.last_attempts(session, company_id, dates, page)


@router.get(
    "/companies/{company_id}/leaderboard",
    response_model=Page[LeaderboardEntry],
    status_code=status.HTTP_200_OK,
    summary="Members ranked by average score (any member)",
    description=f"{_AVERAGE_NOTE} Current members with attempts in range, by average "
    "score (highest first); ties: more attempts first, then lower user id. `rank` is the "
    "1-based position in that whole order.",
    responses=errors(403, 404),
)
async def leaderboard(
    company_id: Id,
    access: MemberAccess,
    session: ReadSessionDep,
    dates: DateRangeDep,
    page: PageDep,
) -> Page[LeaderboardEntry]:
    return await service.leaderboard(session, company_id, dates, page)


@router.get(
    "/quizzes/{quiz_id}/analytics",
    response_model=QuizAnalytics,
    status_code=status.HTTP_200_OK,
    summary="Item analysis of the quiz's current version (staff)",
    description="Over the attempts of the quiz's current version in range, each question "
    "scored 1 or 0: score mean, median and population standard deviation, a 10-bin "
    "histogram, Cronbach's alpha, and per question its facility, discrimination "
    "(correlation with the rest-of-quiz score) and how many attempts chose each answer. "
    "404 for a missing quiz or one of a company the caller is not in; 403 for members.",
    responses=errors(403, 404),
)
async def quiz_analytics(
    quiz_id: Id, session: ReadSessionDep, user: CurrentUser, dates: DateRangeDep
) -> QuizAnalytics:
    return await service.quiz_analytics(session, user, quiz_id, dates)
