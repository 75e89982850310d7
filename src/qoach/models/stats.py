"""Analytics rollups: sums of attempts per period, maintained by database triggers.

Every table holds, per key and per calendar period (a UTC `day`, `month` or
`year`: `grain` + `period_start`), the sums analytics need: attempts,
Σ correct_count, Σ question_count (and the latest completion where a response
shows it). Each attempt is counted once per grain, so any range of whole days
is a sum over at most a few dozen periods per key (see `qoach.analytics.periods`).

The rows are written by triggers on `attempts` / `attempt_answers` in the
inserting transaction (`qoach.analytics.rollups`), so a reader never sees an
attempt without its sums or the other way round. Rows shared by many writers
(company, quiz, question) carry a `shard` (= user_id % COMPANY_SHARDS or
QUIZ_SHARDS): concurrent submissions by different users mostly update different
rows instead of queueing on one lock. Readers sum over shards. Only the company
table has `day` periods (company timelines); members and quizzes keep `month`
and `year`, versions (scores, questions) `month` only; analytics read the days at
the edges of a range from the attempts.

Deleting attempts (a user's account, a quiz) decrements the sums in the same
transaction; rows may then hold zero attempts (and a NULL `last_at`), which
readers ignore.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, SmallInteger
from sqlalchemy import String as _String
from sqlalchemy.orm import Mapped, mapped_column

from qoach.db.base import Base
from qoach.db.types import UTCDateTime

COMPANY_SHARDS = 8  # every submission in a company touches its company rows
QUIZ_SHARDS = 4  # every submission to a quiz touches its quiz and question rows


class Grain(StrEnum):
    """Period sizes, named as PostgreSQL's `date_trunc` names them."""

    day = "day"
    month = "month"
    year = "year"


def _grain_column() -> Mapped[str]:
    return mapped_column(_String(5), primary_key=True)


_GRAIN_CHECK = "grain IN ('day', 'month', 'year')"


class _Sums:
    # int4 on purpose: PostgreSQL sums int4 into int8 quickly, int8 into numeric slowly;
    # a row holds one period of one key (a company-year shard is far below 2^31)
    attempts: Mapped[int] = mapped_column(Integer)
    correct: Mapped[int] = mapped_column(Integer)
    questions: Mapped[int] = mapped_column(Integer)


class StatsCompany(_Sums, Base):
    """All attempts in a company, per period and shard (totals and company timelines)."""

    __tablename__ = "stats_company"
    __table_args__ = (CheckConstraint(_GRAIN_CHECK, name="grain"),)

    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    grain: Mapped[str] = _grain_column()
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class StatsMember(_Sums, Base):
    """A user's attempts in a company, per period (member breakdowns, leaderboard)."""

    __tablename__ = "stats_member"
    __table_args__ = (
        CheckConstraint(_GRAIN_CHECK, name="grain"),
        Index("ix_stats_member_user_id", "user_id"),
    )

    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    grain: Mapped[str] = _grain_column()
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StatsQuiz(_Sums, Base):
    """A quiz's attempts (all versions), per period and shard (quiz breakdowns)."""

    __tablename__ = "stats_quiz"
    __table_args__ = (
        CheckConstraint(_GRAIN_CHECK, name="grain"),
        Index("ix_stats_quiz_quiz_id", "quiz_id", "grain", "period_start"),
    )

    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    grain: Mapped[str] = _grain_column()
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    quiz_id: Mapped[int] = mapped_column(
        ForeignKey("quizzes.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StatsScore(Base):
    """Attempts of a quiz version per score (correct_count) and period."""

    __tablename__ = "stats_score"
    __table_args__ = (CheckConstraint(_GRAIN_CHECK, name="grain"),)

    quiz_version_id: Mapped[int] = mapped_column(
        ForeignKey("quiz_versions.id", ondelete="CASCADE"), primary_key=True
    )
    grain: Mapped[str] = _grain_column()
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    correct_count: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)


class StatsItem(Base):
    """Per question of a version, period and shard: the sums item analysis needs.

    `correct` = attempts that got the question right, `correct_times_total` =
    Σ (question score × attempt's correct_count), `chosen_<p>` = attempts whose
    selection includes the answer at position p.
    """

    __tablename__ = "stats_item"
    __table_args__ = (
        CheckConstraint(_GRAIN_CHECK, name="grain"),
        Index("ix_stats_item_question_id", "question_id"),
    )

    quiz_version_id: Mapped[int] = mapped_column(
        ForeignKey("quiz_versions.id", ondelete="CASCADE"), primary_key=True
    )
    grain: Mapped[str] = _grain_column()
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    correct: Mapped[int] = mapped_column(Integer)
    correct_times_total: Mapped[int] = mapped_column(Integer)
    chosen_0: Mapped[int] = mapped_column(Integer)
    chosen_1: Mapped[int] = mapped_column(Integer)
    chosen_2: Mapped[int] = mapped_column(Integer)
    chosen_3: Mapped[int] = mapped_column(Integer)
