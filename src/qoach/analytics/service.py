"""Analytics rules: who may see what, and the numbers API.md defines.

Nothing is cached: every response is computed from the database (rollup tables
kept exact by triggers in the submitting transaction, plus the attempts at the
edges of a range), so an attempt is counted by the very next request. All reads
go through the read session.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from qoach.analytics import item_analysis
from qoach.analytics import repository as repo
from qoach.analytics.repository import AnyRow, Sums, attempt_filters, sums_of
from qoach.analytics.schemas import (
    AnswerStats,
    Bucket,
    CompanyAnalytics,
    CompanyAnalyticsHead,
    LastAttempt,
    LeaderboardEntry,
    MemberAnalytics,
    QuestionStats,
    QuizAnalytics,
    ScoreBin,
    TimelinePoint,
    UserAnalytics,
    UserQuizStats,
)
from qoach.companies.permissions import Action, ensure, load_company_access
from qoach.dates import DateRange
from qoach.errors import NotFound
from qoach.models import User
from qoach.pagination import Page, PageParams


def average(sums: Sums) -> float | None:
    """Σ correct_count / Σ question_count; None without attempts."""
    return sums.correct / sums.questions if sums.attempts and sums.questions else None


async def user_analytics(
    session: AsyncSession, user: User, dates: DateRange, company_id: int | None
) -> UserAnalytics:
    rows = await repo.per_quiz_attempted(
        session, attempt_filters(dates, user_id=user.id, company_id=company_id)
    )
    quizzes = []
    total = Sums()
    for row in rows:
        sums = sums_of(row)
        total += sums
        quizzes.append(
            UserQuizStats(
                quiz_id=row.quiz_id,
                quiz_title=row.quiz_title,
                company_id=row.company_id,
                average_score=average(sums),
                attempts=sums.attempts,
                last_completed_at=sums.last_at,
            )
        )
    return UserAnalytics(
        overall_rating=average(total),
        attempts=total.attempts,
        correct_answers=total.correct,
        questions_answered=total.questions,
        quizzes=quizzes,
    )


async def timeline(
    session: AsyncSession,
    dates: DateRange,
    bucket: Bucket,
    *,
    user_id: int | None = None,
    company_id: int | None = None,
    quiz_id: int | None = None,
) -> list[TimelinePoint]:
    rows = await repo.timeline(
        session, dates, bucket, user_id=user_id, company_id=company_id, quiz_id=quiz_id
    )
    return [
        TimelinePoint(
            bucket_start=start, average_score=sums.correct / sums.questions, attempts=sums.attempts
        )
        for start, sums in rows
    ]


async def company_analytics(session: AsyncSession, company_id: int, dates: DateRange) -> bytes:
    """`CompanyAnalytics` as JSON bytes.

    On PostgreSQL the database writes the `members` / `quizzes` arrays as JSON text
    (thousands of members would otherwise be thousands of Python objects); on SQLite
    the rows go through one validation of plain dicts.
    """
    if repo.dialect_of(session) == "postgresql":
        total, members, quizzes = await repo.company_analytics_json(session, company_id, dates)
        head = CompanyAnalyticsHead(average_score=average(total), attempts=total.attempts)
        return b"".join(
            (
                head.model_dump_json().encode()[:-1],
                b',"members":[',
                members.encode(),
                b'],"quizzes":[',
                quizzes.encode(),
                b"]}",
            )
        )
    return (await company_analytics_model(session, company_id, dates)).model_dump_json().encode()


async def company_analytics_model(
    session: AsyncSession, company_id: int, dates: DateRange
) -> CompanyAnalytics:
    """`CompanyAnalytics` built in Python from grouped rows (any database)."""
    total = await repo.company_totals(session, company_id, dates)
    member_rows = await repo.per_member(session, company_id, dates)
    quiz_rows = await repo.per_company_quiz(
        session, company_id, repo.company_quiz_stats(session, company_id, dates)
    )
    # one validation of plain dicts, rows unpacked as tuples (attribute access on a
    # Row costs more than the rest)
    return CompanyAnalytics.model_validate(
        {
            "average_score": average(total),
            "attempts": total.attempts,
            "members": [
                {
                    "user_id": user_id,
                    "average_score": _ratio(correct, questions, attempts),
                    "attempts": attempts or 0,
                    "last_attempt_at": last_at,
                }
                for user_id, correct, questions, attempts, last_at in member_rows
            ],
            "quizzes": [
                {
                    "quiz_id": quiz_id,
                    "quiz_title": title,
                    "average_score": _ratio(correct, questions, attempts),
                    "attempts": attempts or 0,
                    "last_attempt_at": last_at,
                }
                for quiz_id, title, correct, questions, attempts, last_at in quiz_rows
            ],
        }
    )


def _ratio(correct: int | None, questions: int | None, attempts: int | None) -> float | None:
    """Σ correct / Σ questions of a row of sums (None without attempts)."""
    return correct / questions if attempts and correct is not None and questions else None


async def member_analytics(
    session: AsyncSession, company_id: int, user_id: int, dates: DateRange
) -> MemberAnalytics:
    if not await repo.is_member(session, company_id, user_id):
        raise NotFound("This user is not a member of the company", code="member_not_found")
    stats = repo.member_quiz_stats(company_id, user_id, dates)
    rows = await repo.per_company_quiz(session, company_id, stats)
    correct_sum = questions_sum = attempts_sum = 0
    quizzes = []
    # plain dicts validated once, rows unpacked as tuples: a company has hundreds of quizzes
    for quiz_id, title, correct, questions, attempts, last_at in rows:
        correct_sum += correct or 0
        questions_sum += questions or 0
        attempts_sum += attempts or 0
        quizzes.append(
            {
                "quiz_id": quiz_id,
                "quiz_title": title,
                "average_score": _ratio(correct, questions, attempts),
                "attempts": attempts or 0,
                "last_completed_at": last_at,
            }
        )
    return MemberAnalytics.model_validate(
        {
            "user_id": user_id,
            "average_score": _ratio(correct_sum, questions_sum, attempts_sum),
            "attempts": attempts_sum,
            "quizzes": quizzes,
        }
    )


async def last_attempts(
    session: AsyncSession, company_id: int, dates: DateRange, page: PageParams
) -> Page[LastAttempt]:
    rows, total = await repo.last_attempts(session, company_id, dates, page)
    # rows unpacked as tuples (user_id, last_at, page_total, user_email): attribute
    # access on a Row costs more than the model
    items = [
        {"user_id": user_id, "user_email": email, "last_attempt_at": last_at}
        for user_id, last_at, _, email in rows
    ]
    return Page[LastAttempt].model_validate(
        {"items": items, "total": total, "limit": page.limit, "offset": page.offset}
    )


async def leaderboard(
    session: AsyncSession, company_id: int, dates: DateRange, page: PageParams
) -> Page[LeaderboardEntry]:
    rows, total = await repo.leaderboard(session, company_id, dates, page)
    # (user_id, correct, questions, attempts, page_total, user_email), as tuples
    items = [
        {
            "rank": page.offset + index,
            "user_id": user_id,
            "user_email": email,
            "average_score": correct / questions,
            "attempts": attempts,
        }
        for index, (user_id, correct, questions, attempts, _, email) in enumerate(rows, 1)
    ]
    return Page[LeaderboardEntry].model_validate(
        {"items": items, "total": total, "limit": page.limit, "offset": page.offset}
    )


async def quiz_analytics(
    session: AsyncSession, user: User, quiz_id: int, dates: DateRange
) -> QuizAnalytics:
    """Item analysis of the quiz's current version; 404 to outsiders, 403 to members."""
    found = await repo.quiz_current_version(session, quiz_id)
    if found is None:
        raise NotFound("Quiz not found", code="quiz_not_found")
    quiz, version_id, question_count = found
    access = await load_company_access(session, quiz.company_id, user)
    if access.role is None:
        raise NotFound("Quiz not found", code="quiz_not_found")
    ensure(access, Action.analytics_read)

    summary = item_analysis.summarize_scores(
        question_count, await repo.score_distribution(session, version_id, dates)
    )
    sums_by_question = {
        row.question_id: row for row in await repo.question_sums(session, version_id, dates)
    }
    questions = _question_stats(
        await repo.version_questions(session, version_id), sums_by_question, summary
    )
    alpha = item_analysis.cronbach_alpha(
        question_count,
        summary.attempts,
        # questions without rows add a zero variance either way
        [int(row.correct) for row in sums_by_question.values()],
        summary.total,
        summary.total_squares,
    )
    return QuizAnalytics(
        quiz_id=quiz.id,
        quiz_version=quiz.version,
        attempts=summary.attempts,
        mean=summary.mean,
        median=summary.median,
        std_dev=summary.std_dev,
        score_histogram=[
            ScoreBin(from_=b.lower, to=b.upper, count=b.count) for b in summary.histogram
        ],
        cronbach_alpha=alpha,
        questions=questions,
    )


def _question_stats(
    answer_rows: Sequence[AnyRow],
    sums_by_question: dict[int, AnyRow],
    summary: item_analysis.ScoreSummary,
) -> list[QuestionStats]:
    questions: dict[int, QuestionStats] = {}
    n = summary.attempts
    for row in answer_rows:
        question = questions.get(row.question_id)
        sums = sums_by_question.get(row.question_id)
        if question is None:
            correct = int(sums.correct) if sums is not None else 0
            product = int(sums.correct_times_total) if sums is not None else 0
            question = questions[row.question_id] = QuestionStats(
                question_id=row.question_id,
                text=row.question_text,
                facility=item_analysis.facility(n, correct),
                discrimination=item_analysis.discrimination(
                    n, correct, product, summary.total, summary.total_squares
                ),
                answers=[],
            )
        chosen = getattr(sums, f"chosen_{row.answer_position}") if sums is not None else 0
        question.answers.append(
            AnswerStats(
                answer_id=row.answer_id,
                text=row.answer_text,
                is_correct=row.is_correct,
                chosen=int(chosen or 0),
            )
        )
    return list(questions.values())
