"""Every table, importable from one place (Alembic reads `Base.metadata` here)."""

from qoach.db.base import Base
from qoach.models.attempt import Attempt, AttemptAnswer
from qoach.models.company import (
    Company,
    CompanyRole,
    Invitation,
    JoinRequest,
    Membership,
    RequestStatus,
)
from qoach.models.notification import JobRun, Notification, NotificationKind
from qoach.models.quiz import Answer, Question, Quiz, QuizVersion
from qoach.models.stats import StatsCompany, StatsItem, StatsMember, StatsQuiz, StatsScore
from qoach.models.user import AuthSession, User

__all__ = [
    "Answer",
    "Attempt",
    "AttemptAnswer",
    "AuthSession",
    "Base",
    "Company",
    "CompanyRole",
    "Invitation",
    "JobRun",
    "JoinRequest",
    "Membership",
    "Notification",
    "NotificationKind",
    "Question",
    "Quiz",
    "QuizVersion",
    "RequestStatus",
    "StatsCompany",
    "StatsItem",
    "StatsMember",
    "StatsQuiz",
    "StatsScore",
    "User",
]
