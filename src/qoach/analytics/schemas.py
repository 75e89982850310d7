"""Analytics responses. Scores are floats in [0, 1]; null where no attempt counts."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

_AVERAGE = "Σ correct_count / Σ question_count over the attempts; null without attempts."


class Bucket(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class UserQuizStats(BaseModel):
    quiz_id: int
    quiz_title: str
    company_id: int
    average_score: float | None = Field(description=_AVERAGE)
    attempts: int
    last_completed_at: datetime | None


class UserAnalytics(BaseModel):
    overall_rating: float | None = Field(
        description="The caller's average score over their attempts in range (within "
        "`company_id` when given); null without attempts."
    )
    attempts: int
    correct_answers: int = Field(description="Σ correct_count of the attempts.")
    questions_answered: int = Field(
        description="Σ question_count of the attempts (unanswered questions count as asked "
        "and wrong), so overall_rating = correct_answers / questions_answered."
    )
    quizzes: list[UserQuizStats] = Field(
        description="One entry per quiz the caller attempted in range, by quiz id."
    )


class TimelinePoint(BaseModel):
    bucket_start: date = Field(
        description="First day of the bucket (UTC): the day, the Monday, or the 1st."
    )
    average_score: float
    attempts: int


class MemberStats(BaseModel):
    user_id: int
    average_score: float | None = Field(description=_AVERAGE)
    attempts: int
    last_attempt_at: datetime | None


class CompanyQuizStats(BaseModel):
    quiz_id: int
    quiz_title: str
    average_score: float | None = Field(description=_AVERAGE)
    attempts: int
    last_attempt_at: datetime | None


class CompanyAnalyticsHead(BaseModel):
    average_score: float | None = Field(
        description="Over every attempt in the company in range, including attempts of "
        "people who have since left it."
    )
    attempts: int


class CompanyAnalytics(CompanyAnalyticsHead):
    members: list[MemberStats] = Field(
        description="Every current member (by user id), with attempts 0 and a null average "
        "when they have none in range. A whole array, not paginated."
    )
    quizzes: list[CompanyQuizStats] = Field(
        description="Every quiz of the company (by quiz id), all versions counted, with "
        "attempts 0 and a null average when none in range. A whole array, not paginated."
    )


class MemberQuizStats(BaseModel):
    quiz_id: int
    quiz_title: str
    average_score: float | None = Field(description=_AVERAGE)
    attempts: int
    last_completed_at: datetime | None


class MemberAnalytics(BaseModel):
    user_id: int
    average_score: float | None = Field(description=_AVERAGE)
    attempts: int
    quizzes: list[MemberQuizStats] = Field(
        description="Every quiz of the company (by quiz id), attempts 0 and a null average "
        "where the member has none in range. A whole array, not paginated."
    )


class LastAttempt(BaseModel):
    user_id: int
    user_email: str
    last_attempt_at: datetime | None = Field(
        description="The member's latest attempt in this company in range; null if none."
    )


class LeaderboardEntry(BaseModel):
    rank: int = Field(description="1-based position in the whole ranking (not per page).")
    user_id: int
    user_email: str
    average_score: float
    attempts: int


class ScoreBin(BaseModel):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    from_: float = Field(alias="from", description="Lower bound, inclusive.")
    to: float = Field(description="Upper bound, exclusive except for the last bin (1.0).")
    count: int


class AnswerStats(BaseModel):
    answer_id: int
    text: str
    is_correct: bool
    chosen: int = Field(description="How many attempts picked this answer.")


class QuestionStats(BaseModel):
    question_id: int
    text: str
    facility: float | None = Field(
        description="Share of attempts that got the question right; null without attempts."
    )
    discrimination: float | None = Field(
        description="Pearson correlation of the question's 0/1 score with the rest-of-quiz "
        "score (total − this question); null when either side has no variance."
    )
    answers: list[AnswerStats]


class QuizAnalytics(BaseModel):
    quiz_id: int
    quiz_version: int = Field(description="The current version, whose attempts are analysed.")
    attempts: int
    mean: float | None
    median: float | None
    std_dev: float | None = Field(description="Population standard deviation of the scores.")
    score_histogram: list[ScoreBin] = Field(
        description="10 bins [0, 0.1), [0.1, 0.2) … [0.9, 1.0] (the last one closed)."
    )
    cronbach_alpha: float | None = Field(
        description="k/(k−1)·(1 − Σ var(question)/var(total)), population variances; null "
        "with fewer than 2 attempts or zero total variance."
    )
    questions: list[QuestionStats]
