"""Excel import: check and parse off the event loop, resolve targets, write all or nothing.

The whole file is validated before anything is written — the sheet's own rules
(`parser`), every clean quiz through `QuizCreate`, and the database lookups
(`quiz_id` of this company, title matches). Any problem raises one
`Unprocessable(code="import_invalid")` listing them all; the request's session
then rolls back, so nothing of the file is kept. Otherwise each quiz is created
(`create_quiz`, members notified) or given a new version (`replace_quiz`) in the
request's one transaction.

Matching by title is exact after trimming (case-sensitive): "Safety" and
"safety" are two quizzes. Blank quiz-level cells of an updated quiz mean what
they mean in `PUT`: no description, frequency 1.

At most `IMPORT_MAX_CONCURRENT` workbooks (default 2) are parsed at once per
process: parsing is CPU and memory bound (up to `IMPORT_MAX_UNCOMPRESSED_BYTES` of
XML each), so more in parallel would only slow every one down and add up the
memory. Another import waits for a slot up to `IMPORT_QUEUE_SECONDS` (default
10), then gets 503 `import_busy` with `Retry-After`: a burst is absorbed, a flood
is refused early instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import gc
import math
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from anyio import to_thread
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.broker import Broker
from qoach.companies.permissions import Action, CompanyAccess, ensure
from qoach.config import Settings
from qoach.errors import PayloadTooLarge, ServiceUnavailable, Unprocessable
from qoach.models import Quiz, User
from qoach.quizzes import service as quizzes
from qoach.quizzes.excel_import.parser import (
    CORRECT,
    FREQUENCY_DAYS,
    QUESTION,
    QUIZ_DESCRIPTION,
    QUIZ_ID,
    QUIZ_TITLE,
    ParsedQuiz,
    RowError,
    parse_rows,
)
from qoach.quizzes.excel_import.reader import read_first_sheet
from qoach.quizzes.excel_import.safety import ArchiveLimits
from qoach.quizzes.excel_import.schemas import ImportResult
from qoach.quizzes.excel_import.template import SheetQuiz, template_workbook, write_quizzes
from qoach.quizzes.schemas import QuizCreate
from qoach.text import has_nul

MAX_REPORTED_ERRORS = 1000


@dataclass(slots=True)
class Analysis:
    quizzes: list[ParsedQuiz]
    payloads: list[QuizCreate | None]
    errors: list[RowError]


def limits_from(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(
        max_entries=settings.import_max_zip_entries,
        max_uncompressed_bytes=settings.import_max_uncompressed_bytes,
        max_rows=settings.import_max_rows,
    )


# --- the synchronous part (a worker thread) --------------------------------------------

_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = True


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a workbook becomes objects.

    Building ~100k objects (cells, parsed rows, models) makes the collector
    traverse them over and over: measured on a 10,000-question workbook, 0.46–0.53 s
    of CPU instead of 0.31 s (and ~6× for the `QuizCreate` step alone). Reference
    counting still frees everything; the collector resumes when the last
    concurrent import leaves the block.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def analyse_workbook(content: bytes, limits: ArchiveLimits) -> Analysis:
    """Safety checks, the first sheet, the parser and `QuizCreate`: everything but the DB."""
    with _gc_paused():
        rows = read_first_sheet(content, limits)
        result = parse_rows(rows)
        del rows
        errors = list(result.errors)
        payloads: list[QuizCreate | None] = []
        for quiz in result.quizzes:
            if quiz.has_errors:
                payloads.append(None)
                continue
            try:
                payloads.append(QuizCreate.model_validate(quiz.payload()))
            except ValidationError as exc:
                errors.extend(_schema_errors(quiz, exc))
                payloads.append(None)
    return Analysis(quizzes=result.quizzes, payloads=payloads, errors=errors)


_QUIZ_FIELDS = {
    "title": QUIZ_TITLE,
    "description": QUIZ_DESCRIPTION,
    "frequency_days": FREQUENCY_DAYS,
    "questions": QUESTION,
}


def _schema_errors(quiz: ParsedQuiz, exc: ValidationError) -> list[RowError]:
    """`QuizCreate`'s errors placed back on the sheet's rows and columns."""
    found: list[RowError] = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        message = str(error["msg"]).removeprefix("Value error, ")
        row, column = quiz.row, _QUIZ_FIELDS.get(str(loc[0])) if loc else None
        if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
            question = quiz.questions[loc[1]] if loc[1] < len(quiz.questions) else None
            if question is not None:
                row, column = question.row, QUESTION
                if len(loc) >= 3 and loc[2] == "answers":
                    column = CORRECT
                    if len(loc) >= 4 and isinstance(loc[3], int) and loc[3] < len(question.answers):
                        column = question.columns[loc[3]]
        found.append(RowError(row, column, message))
    return found


# --- the cap on concurrent parses ---------------------------------------------------------


def import_slots(state: Any, settings: Settings) -> asyncio.Semaphore:
    """The process's parse slots (one semaphore per app, made on first use)."""
    slots: asyncio.Semaphore | None = getattr(state, "import_slots", None)
    if slots is None:
        slots = asyncio.Semaphore(settings.import_max_concurrent)
        state.import_slots = slots
    return slots


@asynccontextmanager
async def _parse_slot(slots: asyncio.Semaphore, settings: Settings) -> AsyncIterator[None]:
    """Hold one parse slot; 503 `import_busy` when none frees up within the queue time."""
    try:
        async with asyncio.timeout(settings.import_queue_seconds):
            await slots.acquire()
    except TimeoutError:
        raise ServiceUnavailable(
            "Too many imports are being processed; try again shortly",
            retry_after=max(1, math.ceil(settings.import_queue_seconds)),
            code="import_busy",
        ) from None
    try:
        yield
    finally:
        slots.release()


# --- the import -------------------------------------------------------------------------


async def import_quizzes(
    session: AsyncSession,
    broker: Broker,
    access: CompanyAccess,
    *,
    content: bytes,
    dry_run: bool,
    settings: Settings,
    slots: asyncio.Semaphore,
) -> ImportResult:
    ensure(access, Action.quizzes_manage)
    if len(content) > settings.import_max_bytes:
        raise PayloadTooLarge(
            f"The file is larger than the limit of {settings.import_max_bytes} bytes"
        )
    async with _parse_slot(slots, settings):
        analysis = await to_thread.run_sync(analyse_workbook, content, limits_from(settings))
    targets, lookup_errors = await _resolve_targets(session, access.company.id, analysis.quizzes)
    errors = sorted([*analysis.errors, *lookup_errors], key=lambda error: error.row)
    if errors:
        raise _import_invalid(errors)

    created: list[int | None] = []
    updated: list[int] = []
    for payload, target in zip(analysis.payloads, targets, strict=True):
        assert payload is not None  # no errors: every quiz validated
        if target is not None:
            if not dry_run:
                await quizzes.replace_quiz(session, target, payload)
            updated.append(target.id)
        elif dry_run:
            created.append(None)
        else:
            quiz = await quizzes.create_quiz(
                session,
                broker,
                company_id=access.company.id,
                author_id=access.user.id,
                data=payload,
            )
            created.append(quiz.id)
    return ImportResult(created=created, updated=updated, dry_run=dry_run)


async def _resolve_targets(
    session: AsyncSession, company_id: int, parsed: Sequence[ParsedQuiz]
) -> tuple[list[Quiz | None], list[RowError]]:
    """The existing quiz each parsed quiz updates (None: create), in two queries."""
    ids = {item.quiz_id for item in parsed if item.quiz_id is not None}
    # a title with a NUL never matches (and PostgreSQL could not compare it): QuizCreate
    # reports it as a row error
    titles = {
        item.title
        for item in parsed
        if not item.id_given and item.title and not has_nul(item.title)
    }
    by_id: dict[int, Quiz] = {}
    by_title: dict[str, list[Quiz]] = {}
    if ids:
        stmt = select(Quiz).where(Quiz.company_id == company_id, Quiz.id.in_(sorted(ids)))
        by_id = {quiz.id: quiz for quiz in (await session.scalars(stmt)).all()}
    if titles:
        stmt = (
            select(Quiz)
            .where(Quiz.company_id == company_id, Quiz.title.in_(sorted(titles)))
            .order_by(Quiz.id)
        )
        for quiz in (await session.scalars(stmt)).all():
            by_title.setdefault(quiz.title, []).append(quiz)

    targets: list[Quiz | None] = []
    errors: list[RowError] = []
    first_row: dict[int, int] = {}
    for item in parsed:
        target: Quiz | None = None
        column = QUIZ_ID
        if item.quiz_id is not None:
            target = by_id.get(item.quiz_id)
            if target is None:
                errors.append(
                    RowError(
                        item.row, QUIZ_ID, f"quiz {item.quiz_id} is not a quiz of this company"
                    )
                )
        elif not item.id_given:
            column = QUIZ_TITLE
            matches = by_title.get(item.title, [])
            if len(matches) > 1:
                errors.append(
                    RowError(
                        item.row,
                        QUIZ_TITLE,
                        f"{len(matches)} quizzes of this company are titled {item.title!r}; "
                        "give the quiz_id of the one to update",
                    )
                )
            elif matches:
                target = matches[0]
        if target is not None:
            if target.id in first_row:
                errors.append(
                    RowError(
                        item.row,
                        column,
                        f"quiz {target.id} is already updated by the rows from row "
                        f"{first_row[target.id]}",
                    )
                )
            else:
                first_row[target.id] = item.row
        targets.append(target)
    return targets, errors


def _import_invalid(errors: list[RowError]) -> Unprocessable:
    total = len(errors)
    shown = errors[:MAX_REPORTED_ERRORS]
    detail = f"The file has {total} problem{'s' if total != 1 else ''}; nothing was imported"
    if total > len(shown):
        detail += f" (the first {len(shown)} are listed)"
    return Unprocessable(
        detail, code="import_invalid", extra={"errors": [error.as_dict() for error in shown]}
    )


# --- template and export ----------------------------------------------------------------


@lru_cache(maxsize=1)
def _template() -> bytes:
    return template_workbook()


async def template_file(access: CompanyAccess) -> bytes:
    ensure(access, Action.quizzes_manage)
    return await to_thread.run_sync(_template)


async def export_quiz(session: AsyncSession, quiz_id: int, user: User) -> tuple[str, bytes]:
    """A quiz's current version in the import layout: (file name, .xlsx bytes)."""
    quiz, _ = await quizzes.quiz_for_user(session, quiz_id, user, Action.quizzes_manage)
    version = await quizzes.load_version(session, quiz)
    sheet_quiz = SheetQuiz(
        quiz_id=quiz.id,
        title=quiz.title,
        description=quiz.description,
        frequency_days=quiz.frequency_days,
        questions=[
            (question.text, [(answer.text, answer.is_correct) for answer in question.answers])
            for question in version.questions
        ],
    )
    content = await to_thread.run_sync(write_quizzes, [sheet_quiz])
    return f"quiz-{quiz.id}-v{quiz.version}.xlsx", content
