"""Demo and benchmark data, written in bulk.

`generate_demo_data(engine, spec)` fills a migrated database with companies (one
owner, some admins, members), users (each a member of 1–3 companies, all sharing
one password hashed once), quizzes (version 1, `min_questions`–`max_questions`
questions of 2–4 answers with at least one right and one wrong answer) and
attempts spread over the last `days` days, each with one `attempt_answers` row
per question whose `is_correct` agrees with the answers' correctness.

Users have a skill and questions a difficulty, so scores spread the way real ones
do (item analysis finds facility and discrimination to talk about).

Rows are planned with plain `random` from `seed` and written in chunks: on
PostgreSQL with asyncpg `COPY` (ids are taken in blocks from the sequences), on
SQLite with executemany inserts. Everything happens in one transaction, so a run
that fails leaves nothing behind. Attempts are streamed `chunk_attempts` at a
time: memory stays bounded whatever their number (≈ 135 MB RSS for the scale set).

On PostgreSQL a superuser load skips the per-row foreign key triggers for its own
transaction (`session_replication_role = replica`): every reference is planned
here, parents are written first, and the triggers made the load 5× slower.
CHECK constraints and unique indexes are enforced as always. `check_foreign_keys`
keeps the triggers. Skipping them skips the analytics rollup triggers too, so such
a load ends with one set-based rebuild of the rollups (`qoach.analytics.rollups`).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qoach.analytics import rollups
from qoach.db.base import Base
from qoach.models import (
    Answer,
    Attempt,
    AttemptAnswer,
    Company,
    Membership,
    Question,
    Quiz,
    QuizVersion,
    User,
)

logger = logging.getLogger("qoach.demo")

DEFAULT_PASSWORD = "qoach-demo-password"
DEFAULT_DOMAIN = "demo.qoach"
SKILL_BUCKETS = 10

Progress = Callable[[str], None]
Row = tuple[Any, ...]


class DemoDataError(Exception):
    """The spec is invalid or the database already holds this demo data."""


@dataclass(frozen=True, slots=True)
class DemoSpec:
    companies: int = 1
    users: int = 20
    quizzes: int = 5
    attempts: int = 400
    min_questions: int = 10
    max_questions: int = 50
    days: int = 365
    seed: int = 1
    password: str = DEFAULT_PASSWORD
    domain: str = DEFAULT_DOMAIN
    # attempts given to the first quiz of the first company (20 questions), e.g.
    # 100,000 for the item-analysis benchmark; 0 = no special quiz
    hot_quiz_attempts: int = 0
    # share of memberships, quizzes and attempts that go to the first company;
    # None = company sizes follow a Zipf-like law
    first_company_share: float | None = None
    first_company_name: str = "Demo Co"
    chunk_attempts: int = 5_000
    # PostgreSQL: keep the per-row foreign key triggers even when they could be skipped
    check_foreign_keys: bool = False

    def check(self) -> None:
        problems: list[str] = []
        if self.companies < 1:
            problems.append("--companies must be at least 1")
        if self.users < self.companies:
            problems.append("--users must be at least --companies (each company has an owner)")
        if self.quizzes < 0 or self.attempts < 0:
            problems.append("--quizzes and --attempts must not be negative")
        if self.attempts and not self.quizzes:
            problems.append("attempts need at least one quiz")
        if not 2 <= self.min_questions <= self.max_questions <= 100:
            problems.append("questions per quiz: 2 <= --min-questions <= --max-questions <= 100")
        if self.days < 1:
            problems.append("--days must be at least 1")
        if not 8 <= len(self.password) <= 128:
            problems.append("--password must be 8-128 characters")
        if not 0 <= self.hot_quiz_attempts <= self.attempts:
            problems.append("--hot-quiz-attempts must be between 0 and --attempts")
        if self.hot_quiz_attempts and not self.quizzes:
            problems.append("--hot-quiz-attempts needs at least one quiz")
        if self.first_company_share is not None and not 0 < self.first_company_share < 1:
            problems.append("--first-company-share must be between 0 and 1")
        if self.chunk_attempts < 1:
            problems.append("--chunk-attempts must be at least 1")
        if problems:
            raise DemoDataError("; ".join(problems))


PRESETS: dict[str, dict[str, Any]] = {
    # `make run` users: one company to click through, built in seconds
    "small": {"companies": 1, "users": 20, "quizzes": 5, "attempts": 400},
    # the benchmark data set of issue 8
    "scale": {
        "companies": 20,
        "users": 10_000,
        "quizzes": 1_000,
        "attempts": 1_000_000,
        "hot_quiz_attempts": 100_000,
        "first_company_share": 0.5,
    },
}


@dataclass(slots=True)
class DemoResult:
    counts: dict[str, int] = field(default_factory=dict)
    owner_email: str = ""
    first_company_id: int = 0
    hot_quiz_id: int | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())


# ---------------------------------------------------------------------- vocabulary

# fmt: off
_FIRST = (
    "Ada", "Alan", "Anna", "Ben", "Carla", "Chen", "David", "Elena", "Emma", "Farid", "Grace",
    "Hugo", "Ines", "Ivan", "Jonas", "Julia", "Kenji", "Lea", "Leo", "Lina", "Marco", "Maya",
    "Nadia", "Noah", "Olga", "Omar", "Paula", "Priya", "Rafael", "Sara", "Tom", "Yara",
)
# fmt: on
# fmt: off
_LAST = (
    "Adams", "Baker", "Costa", "Dubois", "Ekström", "Fischer", "Garcia", "Haddad", "Ivanova",
    "Jensen", "Kim", "Kowalski", "Lopez", "Müller", "Nakamura", "Novak", "Okafor", "Petrov",
    "Rossi", "Santos", "Schmidt", "Silva", "Tanaka", "Weber", "Yilmaz", "Zhang",
)
# fmt: on
_COMPANIES = (
    "Northwind Traders",
    "Contoso Logistics",
    "Globex Energy",
    "Initech Software",
    "Umbrella Health",
    "Stark Components",
    "Wayne Foods",
    "Acme Tools",
    "Hooli Cloud",
    "Vandelay Imports",
    "Soylent Farms",
    "Tyrell Robotics",
    "Cyberdyne Systems",
    "Gringotts Finance",
    "Oscorp Labs",
    "Monarch Retail",
)
_TOPICS = (
    "Fire safety",
    "Data protection",
    "Information security",
    "Anti-bribery",
    "First aid",
    "Workplace ergonomics",
    "Code of conduct",
    "Customer care",
    "Product basics",
    "Onboarding",
    "Expense policy",
    "Forklift operation",
    "Food hygiene",
    "Phishing awareness",
    "Diversity and inclusion",
    "Export control",
)
_LEVELS = ("basics", "refresher", "advanced", "level 2", "annual check", "quick quiz")
_STEMS = (
    "Which of these is right about {t}?",
    "What should you do first in this {t} situation?",
    "Which statement on {t} matches our policy?",
    "Pick every correct answer about {t}.",
    "Who is responsible for {t} in this case?",
)


def _answer_texts(rng: random.Random, topic: str, n: int, count: int) -> list[str]:
    options = [
        f"Report it to the {topic.lower()} contact",
        "Follow the written procedure",
        "Ask your manager before acting",
        "Ignore it, it is not your job",
        "Do it yourself as fast as possible",
        "Write it down and wait",
        "Stop the work and secure the area",
        "Tell a colleague later",
    ]
    rng.shuffle(options)
    return [f"{text} ({n}.{i + 1})" for i, text in enumerate(options[:count])]


# ---------------------------------------------------------------------- the plan


@dataclass(slots=True)
class _QuizPlan:
    quiz_id: int
    version_id: int
    company: int  # index
    # per skill bucket: [(question_id, p_correct, correct_mask, wrong_masks)]
    buckets: list[list[tuple[int, float, int, tuple[int, ...]]]]

    @property
    def question_count(self) -> int:
        return len(self.buckets[0])


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _wrong_masks(answer_count: int, correct: set[int]) -> tuple[int, ...]:
    """Plausible wrong choices: a wrong answer (often), part of / more than the right set, none."""
    right = sum(1 << p for p in correct)
    wrong = [p for p in range(answer_count) if p not in correct]
    masks: list[int] = []
    for p in wrong:
        masks += [1 << p] * 3
    if len(correct) > 1:
        masks += [1 << p for p in correct]  # only part of the right set
    masks += [right | (1 << p) for p in wrong]  # the right set and a wrong one
    masks.append(0)  # left unanswered
    assert right not in masks
    return tuple(masks)


def _cum(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, items: Sequence[int], cum: Sequence[float]) -> int:
    return items[bisect.bisect_left(cum, rng.random() * cum[-1])]


# ---------------------------------------------------------------------- writers


class _Writer:
    """Ids and bulk rows for one dialect, inside the caller's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self._raw: Any = None
        self.foreign_key_checks = True

    async def skip_foreign_key_checks(self) -> bool:
        """PostgreSQL: skip the per-row foreign key triggers for this transaction.

        Every id is planned here and parents are written before children, so the
        references hold by construction; the triggers would only cost time (5× on
        `attempt_answers`). CHECK constraints and unique indexes are not triggers:
        they are still enforced. Needs a superuser (`session_replication_role`);
        without the right, the checks simply stay on.
        """
        if not self.postgres:
            return False
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(text("SET LOCAL session_replication_role = replica"))
        except DBAPIError:
            return False
        self.foreign_key_checks = False
        return True

    async def reserve(self, model: type[Base], count: int) -> int:
        """The first of `count` consecutive free ids of `model`'s table."""
        table = cast(Table, model.__table__)
        if self.postgres:
            # one block from the sequence: nothing else hands these ids out again
            first = await self.conn.scalar(
                text(
                    "SELECT setval(pg_get_serial_sequence(:t, 'id'), "
                    "nextval(pg_get_serial_sequence(:t, 'id')) + :n - 1) - :n + 1"
                ),
                {"t": table.name, "n": max(count, 1)},
            )
        else:
            # inside the write transaction (BEGIN IMMEDIATE) no one else inserts
            first = await self.conn.scalar(
                select(text("COALESCE(MAX(id), 0) + 1")).select_from(table)
            )
        return int(first)

    async def write(self, model: type[Base], columns: Sequence[str], rows: list[Row]) -> None:
        if not rows:
            return
        table = cast(Table, model.__table__)
        if self.postgres:
            if self._raw is None:
                self._raw = (await self.conn.get_raw_connection()).driver_connection
            await self._raw.copy_records_to_table(table.name, records=rows, columns=columns)
        else:
            await self.conn.execute(
                insert(table), [dict(zip(columns, row, strict=True)) for row in rows]
            )


# ---------------------------------------------------------------------- generator


async def generate_demo_data(
    engine: AsyncEngine,
    spec: DemoSpec,
    *,
    progress: Progress | None = None,
    password_hash: str | None = None,
    now: datetime | None = None,
) -> DemoResult:
    """Write the data set described by `spec`; see the module docstring."""
    from qoach.auth.passwords import hash_password

    spec.check()
    say = progress or (lambda message: logger.info("%s", message))
    result = DemoResult()
    started = time.perf_counter()
    rng = random.Random(spec.seed)
    now = now or datetime.now(UTC)
    window_start = now - timedelta(days=spec.days)
    owner_email = f"owner@{spec.domain}"

    pw_hash = password_hash or await hash_password(spec.password)
    result.timings["hash password"] = time.perf_counter() - started

    write_engine = engine
    if engine.dialect.name == "sqlite":
        write_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
    async with write_engine.begin() as conn:
        if await conn.scalar(select(User.id).where(User.email == owner_email)) is not None:
            raise DemoDataError(
                f"{owner_email} already exists: this database already holds demo data for "
                f"{spec.domain}; use an empty database or another --domain"
            )
        writer = _Writer(conn)
        triggers_skipped = not spec.check_foreign_keys and await writer.skip_foreign_key_checks()
        if triggers_skipped:
            say("foreign key triggers skipped for this load (ids planned; CHECKs still enforced)")
        else:
            say("foreign keys checked row by row")
        t0 = time.perf_counter()
        base = await _write_base(writer, spec, rng, pw_hash, window_start, say, result)
        result.timings["companies, users, quizzes"] = time.perf_counter() - t0
        result.owner_email = owner_email
        result.first_company_id = base.company_ids[0]
        t0 = time.perf_counter()
        result.counts["attempt_answers"] = await _write_attempts(
            writer, spec, rng, base, window_start, say
        )
        result.counts["attempts"] = spec.attempts
        result.timings["attempts"] = time.perf_counter() - t0
        if spec.hot_quiz_attempts:
            result.hot_quiz_id = base.plans[0].quiz_id
        if triggers_skipped:
            # the analytics rollup triggers were skipped with the foreign key ones
            t0 = time.perf_counter()
            say("summing the analytics rollups")
            await rollups.rebuild(conn)
            result.timings["analytics rollups"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        say("committing")
    result.timings["commit"] = time.perf_counter() - t0
    if engine.dialect.name == "postgresql":
        t0 = time.perf_counter()
        say("analyzing")
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in [
                "users",
                "companies",
                "memberships",
                "quizzes",
                "quiz_versions",
                "questions",
                "answers",
                "attempts",
                "attempt_answers",
                *rollups.STATS_TABLES,
            ]:
                # VACUUM sets the visibility map, so the analytics' edge-day sums are
                # index-only scans from the start (autovacuum would get there later)
                vacuum = "VACUUM " if table == "attempts" or table.startswith("stats_") else ""
                await conn.exec_driver_sql(f"{vacuum}ANALYZE {table}")
        result.timings["analyze"] = time.perf_counter() - t0
    return result


@dataclass(slots=True)
class _Base:
    """What the attempts need from the companies, users and quizzes written first."""

    plans: list[_QuizPlan]
    company_ids: list[int]
    # per company: (member user ids, cumulative activity weights)
    members: list[tuple[list[int], list[float]]]
    # user id -> skill bucket
    skill: dict[int, int]


async def _write_base(
    writer: _Writer,
    spec: DemoSpec,
    rng: random.Random,
    pw_hash: str,
    window_start: datetime,
    say: Progress,
    result: DemoResult,
) -> _Base:
    """Companies, users, memberships, quizzes; returns what the attempts need."""
    n_companies, n_users = spec.companies, spec.users
    founded = window_start - timedelta(days=60)

    # --- companies: sizes follow a Zipf-like law, or the first one takes its share
    weights = [1.0 / (c + 1) ** 0.8 for c in range(n_companies)]
    if spec.first_company_share is not None and n_companies > 1:
        rest = sum(weights[1:])
        share = spec.first_company_share
        weights[0] = rest * share / (1 - share)
    company_cum = _cum(weights)
    first_company = await writer.reserve(Company, n_companies)
    company_ids = [first_company + c for c in range(n_companies)]
    company_rows: list[Row] = []
    for c in range(n_companies):
        if c == 0:
            name = spec.first_company_name
        else:
            base = _COMPANIES[(c - 1) % len(_COMPANIES)]
            round_ = (c - 1) // len(_COMPANIES)
            name = base if round_ == 0 else f"{base} {round_ + 1}"
        created = founded - timedelta(days=rng.uniform(0, 300))
        company_rows.append(
            (
                company_ids[c],
                name,
                f"{name}: demo company with quizzes and a year of attempts.",
                c == 0 or rng.random() < 0.8,
                created,
                created,
            )
        )
    await writer.write(
        Company,
        ("id", "name", "description", "is_visible", "created_at", "updated_at"),
        company_rows,
    )

    # --- users: user c owns company c; the rest get user<n>@domain
    first_user = await writer.reserve(User, n_users)
    user_ids = [first_user + u for u in range(n_users)]
    user_rows: list[Row] = []
    for u in range(n_users):
        if u == 0:
            email = f"owner@{spec.domain}"
        elif u < n_companies:
            email = f"owner{u + 1}@{spec.domain}"
        else:
            email = f"user{u + 1}@{spec.domain}"
        created = founded - timedelta(days=rng.uniform(0, 30))
        user_rows.append(
            (
                user_ids[u],
                email,
                pw_hash,
                rng.choice(_FIRST),
                rng.choice(_LAST),
                created,
                created,
            )
        )
    await writer.write(
        User,
        ("id", "email", "password_hash", "first_name", "last_name", "created_at", "updated_at"),
        user_rows,
    )
    del user_rows
    say(f"{n_companies} companies, {n_users} users")

    # --- memberships: every user in 1-3 companies, owners in their own
    company_members: list[list[int]] = [[] for _ in range(n_companies)]
    roles: list[list[str]] = [[] for _ in range(n_companies)]
    for u in range(n_users):
        wanted = min(n_companies, rng.choices((1, 2, 3), weights=(6, 3, 1))[0])
        chosen: set[int] = {u} if u < n_companies else set()
        while len(chosen) < wanted:
            chosen.add(bisect.bisect_left(company_cum, rng.random() * company_cum[-1]))
        for c in sorted(chosen):
            company_members[c].append(u)
            if c == u:
                roles[c].append("owner")
            else:
                roles[c].append("admin" if rng.random() < 0.05 else "member")
    n_memberships = sum(len(m) for m in company_members)
    first_membership = await writer.reserve(Membership, n_memberships)
    membership_rows: list[Row] = []
    next_id = first_membership
    for c in range(n_companies):
        for u, role in zip(company_members[c], roles[c], strict=True):
            joined = founded + timedelta(days=rng.uniform(0, 59))
            membership_rows.append((next_id, company_ids[c], user_ids[u], role, joined))
            next_id += 1
    await writer.write(
        Membership,
        ("id", "company_id", "user_id", "role", "joined_at"),
        membership_rows,
    )
    del membership_rows
    say(f"{n_memberships} memberships")

    # who takes quizzes, how often, and how well
    activity = [rng.lognormvariate(0, 0.8) for _ in range(n_users)]
    skill = [
        min(SKILL_BUCKETS - 1, int(rng.betavariate(4, 2.2) * SKILL_BUCKETS)) for _ in range(n_users)
    ]
    members = [
        (
            [user_ids[u] for u in company_members[c]],
            _cum([activity[u] for u in company_members[c]]),
        )
        for c in range(n_companies)
    ]
    user_skill = {user_ids[u]: skill[u] for u in range(n_users)}
    staff = [
        [user_ids[u] for u, r in zip(company_members[c], roles[c], strict=True) if r != "member"]
        for c in range(n_companies)
    ]

    # --- quizzes, version 1, questions, answers
    n_quizzes = spec.quizzes
    quiz_company = [0] * n_quizzes
    for q in range(n_quizzes):
        # every company gets a quiz while there are enough of them
        quiz_company[q] = (
            q
            if q < n_companies
            else bisect.bisect_left(company_cum, rng.random() * company_cum[-1])
        )
    question_counts = []
    for q in range(n_quizzes):
        if q == 0 and spec.min_questions <= 20 <= spec.max_questions:
            question_counts.append(20)  # the "hot" quiz of the benchmarks
        else:
            count = int(
                rng.triangular(spec.min_questions, spec.max_questions + 1, spec.min_questions)
            )
            question_counts.append(min(count, spec.max_questions))
    n_questions = sum(question_counts)
    first_quiz = await writer.reserve(Quiz, n_quizzes)
    first_version = await writer.reserve(QuizVersion, n_quizzes)
    first_question = await writer.reserve(Question, n_questions)
    quiz_rows: list[Row] = []
    version_rows: list[Row] = []
    question_rows: list[Row] = []
    answer_rows: list[Row] = []
    plans: list[_QuizPlan] = []
    question_id = first_question
    abilities = [math.log((b + 0.5) / (SKILL_BUCKETS - b - 0.5)) for b in range(SKILL_BUCKETS)]
    for q in range(n_quizzes):
        c = quiz_company[q]
        topic = _TOPICS[q % len(_TOPICS)]
        title = f"{topic} {_LEVELS[(q // len(_TOPICS)) % len(_LEVELS)]}"
        if q >= len(_TOPICS) * len(_LEVELS):
            title += f" #{q // (len(_TOPICS) * len(_LEVELS)) + 1}"
        created = window_start - timedelta(days=rng.uniform(1, 30))
        quiz_id, version_id = first_quiz + q, first_version + q
        quiz_rows.append(
            (
                quiz_id,
                company_ids[c],
                title,
                f"{title}: what every colleague should know.",
                rng.choice((1, 7, 7, 14, 30, 30, 90)),
                1,
                rng.choice(staff[c]),
                created,
                created,
            )
        )
        version_rows.append((version_id, quiz_id, 1, question_counts[q], created))
        # (question id, difficulty, slope, right mask, wrong masks)
        per_question: list[tuple[int, float, float, int, tuple[int, ...]]] = []
        for position in range(question_counts[q]):
            n_answers = rng.choice((2, 3, 3, 4, 4, 4))
            n_right = 1 if n_answers == 2 or rng.random() < 0.8 else 2
            right = set(rng.sample(range(n_answers), n_right))
            stem = _STEMS[(position + q) % len(_STEMS)].format(t=topic.lower())
            question_rows.append((question_id, version_id, position, f"{position + 1}. {stem}"))
            for a, answer_text in enumerate(_answer_texts(rng, topic, position + 1, n_answers)):
                answer_rows.append((question_id, a, answer_text, a in right))
            difficulty = rng.gauss(-0.4, 0.9) + (0.6 if n_right > 1 else 0.0)
            slope = rng.uniform(0.6, 1.8)
            right_mask = sum(1 << p for p in right)
            per_question.append(
                (question_id, difficulty, slope, right_mask, _wrong_masks(n_answers, right))
            )
            question_id += 1
        buckets = [
            [
                (qid, _sigmoid(slope * (abilities[b] - diff)), cmask, wmasks)
                for qid, diff, slope, cmask, wmasks in per_question
            ]
            for b in range(SKILL_BUCKETS)
        ]
        plans.append(_QuizPlan(quiz_id, version_id, c, buckets))
    first_answer = await writer.reserve(Answer, len(answer_rows))
    answer_rows = [(first_answer + i, *row) for i, row in enumerate(answer_rows)]
    await writer.write(
        Quiz,
        (
            "id",
            "company_id",
            "title",
            "description",
            "frequency_days",
            "version",
            "created_by_id",
            "created_at",
            "updated_at",
        ),
        quiz_rows,
    )
    await writer.write(
        QuizVersion,
        ("id", "quiz_id", "version", "question_count", "created_at"),
        version_rows,
    )
    await writer.write(Question, ("id", "quiz_version_id", "position", "text"), question_rows)
    await writer.write(Answer, ("id", "question_id", "position", "text", "is_correct"), answer_rows)
    say(f"{n_quizzes} quizzes, {n_questions} questions, {len(answer_rows)} answers")
    result.counts.update(
        companies=n_companies,
        users=n_users,
        memberships=n_memberships,
        quizzes=n_quizzes,
        quiz_versions=n_quizzes,
        questions=n_questions,
        answers=len(answer_rows),
    )
    return _Base(plans, company_ids, members, user_skill)


async def _write_attempts(
    writer: _Writer,
    spec: DemoSpec,
    rng: random.Random,
    base: _Base,
    window_start: datetime,
    say: Progress,
) -> int:
    """Stream the attempts and their answers in chunks; returns the answer rows written."""
    total = spec.attempts
    if not total:
        return 0
    plans, company_ids, members, skills = base.plans, base.company_ids, base.members, base.skill
    # quizzes people take: popular ones more, long ones less
    popularity = [rng.lognormvariate(0, 1) / math.sqrt(p.question_count) for p in plans]
    if spec.hot_quiz_attempts:
        popularity[0] = 0.0
    normal = [i for i, w in enumerate(popularity) if w > 0] or [0]
    normal_cum = _cum([popularity[i] for i in normal])
    span = spec.days * 86400.0
    hot_left, left = spec.hot_quiz_attempts, total
    first_attempt = await writer.reserve(Attempt, total)
    attempt_cols = (
        "id",
        "quiz_id",
        "quiz_version_id",
        "company_id",
        "user_id",
        "quiz_version",
        "correct_count",
        "question_count",
        "completed_at",
    )
    answer_cols = ("attempt_id", "question_id", "selected_mask", "is_correct")
    rnd = rng.random
    written = answers_written = 0
    report_every = max(total // 10, spec.chunk_attempts)
    next_report = report_every
    while written < total:
        size = min(spec.chunk_attempts, total - written)
        attempts: list[Row] = []
        answers: list[Row] = []
        append = answers.append
        for i in range(written, written + size):
            if hot_left and rnd() * left < hot_left:
                plan = plans[0]
                hot_left -= 1
            else:
                plan = plans[_pick(rng, normal, normal_cum)]
            left -= 1
            users, cum = members[plan.company]
            user_id = users[bisect.bisect_left(cum, rnd() * cum[-1])]
            attempt_id = first_attempt + i
            correct = 0
            for qid, p, cmask, wmasks in plan.buckets[skills[user_id]]:
                if rnd() < p:
                    append((attempt_id, qid, cmask, True))
                    correct += 1
                else:
                    append((attempt_id, qid, wmasks[int(rnd() * len(wmasks))], False))
            # attempts come in time order: ids ascend with completed_at
            completed = window_start + timedelta(seconds=span * (i + rnd()) / total)
            attempts.append(
                (
                    attempt_id,
                    plan.quiz_id,
                    plan.version_id,
                    company_ids[plan.company],
                    user_id,
                    1,
                    correct,
                    plan.question_count,
                    completed,
                )
            )
        await writer.write(Attempt, attempt_cols, attempts)
        await writer.write(AttemptAnswer, answer_cols, answers)
        written += size
        answers_written += len(answers)
        if written >= next_report or written == total:
            say(f"{written}/{total} attempts, {answers_written} answers")
            next_report += report_every
    return answers_written
