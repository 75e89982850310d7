"""Sheet rows in, quizzes or row-by-row errors out. Pure: no I/O, no web, no database.

The layout (API.md, "Excel import"): a header row, then one row per question.
Columns, in any order, matched case-insensitively after trimming (spaces and
hyphens count as underscores, so "Answer 1" is `answer_1`):

- `quiz_id` (optional) — update that quiz of the company;
- `quiz_title`, `quiz_description`, `frequency_days` — read from a quiz's first row;
- `question`, `answer_1` … `answer_4`;
- `correct` — the right answers' numbers, 1-based: `2`, `1,3` (also `1;3`, `1 3`,
  or a numeric cell such as 2.0); or the older layout: `is_correct_1` …
  `is_correct_4` holding TRUE/FALSE, 1/0, yes/no (an empty cell is false).

Consecutive rows with the same `quiz_id` (or, where it is empty, the same
`quiz_title`) form one quiz: a row without `quiz_id` that repeats the title of the
quiz above continues it, even when that quiz is keyed by its id. A quiz's rows must
stay together (a key seen again further down is an error). Every row needs a
`quiz_title` (or a `quiz_id`). Columns the layout does not know are ignored;
`answer_5` and beyond may exist but must stay empty. Empty rows are skipped.
Answers keep their column order; an empty answer column in the middle is skipped
(`correct` still counts by column number).

Every problem found is reported as `RowError(row, column, message)` with the
sheet's own row number (header = its row, normally 1) and the canonical column
name. The limits mirror `qoach.quizzes.schemas` (a test checks they agree); the
service validates every clean quiz with `QuizCreate` as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

Cell = str | int | float | bool | date | datetime | time | timedelta | None

MIN_QUESTIONS = 2
MAX_QUESTIONS = 100
MIN_ANSWERS = 2
MAX_ANSWERS = 4
MAX_FREQUENCY_DAYS = 3650
MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_QUESTION = 1000
MAX_ANSWER = 500

QUIZ_ID = "quiz_id"
QUIZ_TITLE = "quiz_title"
QUIZ_DESCRIPTION = "quiz_description"
FREQUENCY_DAYS = "frequency_days"
QUESTION = "question"
CORRECT = "correct"

# The layout the template and exports write (the parser accepts any order).
COLUMNS: tuple[str, ...] = (
    QUIZ_ID,
    QUIZ_TITLE,
    QUIZ_DESCRIPTION,
    FREQUENCY_DAYS,
    QUESTION,
    *(f"answer_{n}" for n in range(1, MAX_ANSWERS + 1)),
    CORRECT,
)
REQUIRED_COLUMNS: tuple[str, ...] = (QUIZ_TITLE, QUESTION, "answer_1", "answer_2")
_SCALAR_COLUMNS = frozenset({QUIZ_ID, QUIZ_TITLE, QUIZ_DESCRIPTION, FREQUENCY_DAYS, QUESTION})

_NUMBERED = re.compile(r"(answer|is_correct)_(\d{1,3})")
_HEADER_SEPARATORS = re.compile(r"[\s\-]+")
_INTEGER_TEXT = re.compile(r"\+?(\d{1,9})(?:\.0*)?")
_CORRECT_SPLIT = re.compile(r"[,;\s]+")
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n", ""})


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str | None
    message: str

    def as_dict(self) -> dict[str, int | str | None]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass(slots=True)
class ParsedQuestion:
    row: int
    text: str
    answers: list[tuple[str, bool]]
    """(text, is_correct) of the filled answer cells, in column order."""
    columns: list[str]
    """The column each answer came from (`answer_1` …)."""


@dataclass(slots=True)
class ParsedQuiz:
    row: int
    """The sheet row of the quiz's first question (its quiz-level cells)."""
    quiz_id: int | None
    title: str
    description: str | None
    frequency_days: int
    questions: list[ParsedQuestion] = field(default_factory=list)
    has_errors: bool = False
    id_given: bool = False
    """A quiz_id cell was filled (even if unreadable): never matched by title."""

    def payload(self) -> dict[str, object]:
        """The quiz as `QuizCreate` input."""
        return {
            "title": self.title,
            "description": self.description,
            "frequency_days": self.frequency_days,
            "questions": [
                {
                    "text": question.text,
                    "answers": [
                        {"text": text, "is_correct": is_correct}
                        for text, is_correct in question.answers
                    ],
                }
                for question in self.questions
            ],
        }


@dataclass(slots=True)
class ParseResult:
    quizzes: list[ParsedQuiz]
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class _Layout:
    header_row: int
    columns: dict[str, int]
    answers: tuple[tuple[int, int, str], ...]  # (answer number, cell index, column), by number
    extra_answers: tuple[tuple[str, int], ...]  # answer_5 … columns: must stay empty
    flags: dict[int, tuple[str, int]]  # legacy: answer number -> (column, cell index)


# --- cells ---------------------------------------------------------------------------


def cell_text(value: Cell) -> str:
    """A cell as trimmed text: whole numbers without `.0`, booleans as TRUE/FALSE."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def _blank(value: Cell) -> bool:
    return value is None or value == "" or (type(value) is str and not value.strip())


def parse_positive_int(value: Cell) -> int | None:
    """A whole number ≥ 1 from a numeric or text cell; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer() or abs(value) > 2**31:
            return None
        number = int(value)
    elif isinstance(value, str):
        match = _INTEGER_TEXT.fullmatch(value.strip())
        if match is None:
            return None
        number = int(match.group(1))
    else:
        return None
    return number if number >= 1 else None


def parse_correct(value: Cell) -> set[int] | str:
    """The answer numbers of a `correct` cell, or an error message."""
    if isinstance(value, bool):
        return "correct must list answer numbers, e.g. 2 or 1,3 (not TRUE/FALSE)"
    if isinstance(value, int | float):
        if isinstance(value, float) and not value.is_integer():
            return (
                f"correct must list answer numbers; write several as text, e.g. 1,3 (not {value})"
            )
        return {int(value)}
    if not isinstance(value, str):
        return "correct must list answer numbers, e.g. 2 or 1,3"
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text) <= 3:
        return {int(text)}
    numbers: set[int] = set()
    for token in _CORRECT_SPLIT.split(value.strip()):
        if not token:
            continue
        match = _INTEGER_TEXT.fullmatch(token)
        if match is None:
            return f"correct must list answer numbers, e.g. 2 or 1,3 (found {value.strip()!r})"
        numbers.add(int(match.group(1)))
    return numbers


def parse_flag(value: Cell) -> bool | None:
    """TRUE/FALSE, 1/0, yes/no (any case); an empty cell is False; None if unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if value is None:
        return False
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def normalize_header(value: Cell) -> str:
    return _HEADER_SEPARATORS.sub("_", cell_text(value).lower())


def _by_row(error: RowError) -> int:
    return error.row


# --- the sheet -----------------------------------------------------------------------


def parse_rows(rows: Iterable[Sequence[Cell]], *, first_row: int = 1) -> ParseResult:
    """Parse the first sheet's rows (`rows[0]` is sheet row `first_row`)."""
    errors: list[RowError] = []
    iterator = iter(enumerate(rows, start=first_row))
    header: tuple[int, Sequence[Cell]] | None = None
    for number, row in iterator:
        if not all(_blank(cell) for cell in row):
            header = (number, row)
            break
    if header is None:
        return ParseResult([], [RowError(1, None, "The first sheet is empty")])
    layout = _read_header(header[0], header[1], errors)
    if layout is None:
        return ParseResult([], errors)

    quizzes: list[ParsedQuiz] = []
    first_seen: dict[tuple[str, object], int] = {}
    current: ParsedQuiz | None = None
    current_key: tuple[str, object] | None = None
    data_rows = 0
    cols = layout.columns
    id_index = cols.get(QUIZ_ID)
    title_index = cols[QUIZ_TITLE]
    for number, row in iterator:
        if all(_blank(cell) for cell in row):
            continue
        data_rows += 1
        width = len(row)
        error_count = len(errors)

        key: tuple[str, object] | None = None
        quiz_id: int | None = None
        raw_id = cell_text(row[id_index]) if id_index is not None and id_index < width else ""
        if raw_id:
            quiz_id = parse_positive_int(row[id_index])  # type: ignore[index]
            key = ("id", quiz_id if quiz_id is not None else raw_id)
        title = cell_text(row[title_index]) if title_index < width else ""
        if key is None and title:
            key = ("title", title)

        if key is None:
            errors.append(
                RowError(
                    number,
                    QUIZ_TITLE,
                    "quiz_title is required on every row"
                    + (" (or a quiz_id)" if id_index is not None else ""),
                )
            )
            if current is None:
                current = _new_quiz(number, None, "", row, layout, errors)
                quizzes.append(current)
                current_key = ("blank", number)
        elif key != current_key and not (
            # no quiz_id on this row, the title of the quiz above (even one keyed by id)
            not raw_id and current is not None and title == current.title
        ):
            if key in first_seen:
                errors.append(
                    RowError(
                        number,
                        QUIZ_ID if key[0] == "id" else QUIZ_TITLE,
                        f"the rows of one quiz must be consecutive; this quiz already starts "
                        f"at row {first_seen[key]}",
                    )
                )
            else:
                first_seen[key] = number
            if raw_id and quiz_id is None:
                errors.append(
                    RowError(number, QUIZ_ID, f"quiz_id must be a quiz number (found {raw_id!r})")
                )
            if not title:
                errors.append(
                    RowError(number, QUIZ_TITLE, "quiz_title is required on a quiz's first row")
                )
            current = _new_quiz(number, quiz_id, title, row, layout, errors)
            current.id_given = bool(raw_id)
            current_key = key
            quizzes.append(current)

        assert current is not None
        question = _read_question(number, row, layout, errors)
        current.questions.append(question)
        if len(errors) != error_count:
            current.has_errors = True

    if data_rows == 0:
        errors.append(
            RowError(layout.header_row + 1, None, "There are no questions below the header")
        )
    for quiz in quizzes:
        count = len(quiz.questions)
        if count < MIN_QUESTIONS:
            errors.append(
                RowError(
                    quiz.row,
                    QUESTION,
                    f"a quiz needs at least {MIN_QUESTIONS} questions (this one has {count})",
                )
            )
            quiz.has_errors = True
        elif count > MAX_QUESTIONS:
            errors.append(
                RowError(
                    quiz.questions[MAX_QUESTIONS].row,
                    QUESTION,
                    f"a quiz has at most {MAX_QUESTIONS} questions (this one has {count})",
                )
            )
            quiz.has_errors = True
    errors.sort(key=_by_row)
    return ParseResult(quizzes, errors)


def _read_header(number: int, row: Sequence[Cell], errors: list[RowError]) -> _Layout | None:
    columns: dict[str, int] = {}
    answers: dict[int, int] = {}
    extra: list[tuple[str, int]] = []
    flags: dict[int, tuple[str, int]] = {}
    for index, cell in enumerate(row):
        name = normalize_header(cell)
        if not name:
            continue
        if name in columns:
            errors.append(RowError(number, name, f"the column {name} appears twice"))
            continue
        numbered = _NUMBERED.fullmatch(name)
        if numbered:
            kind, n = numbered.group(1), int(numbered.group(2))
            if n < 1:
                continue
            columns[name] = index
            if kind == "answer":
                if n <= MAX_ANSWERS:
                    answers[n] = index
                else:
                    extra.append((name, index))
            elif n <= MAX_ANSWERS:
                flags[n] = (name, index)
            else:
                extra.append((name, index))
        elif name in _SCALAR_COLUMNS or name == CORRECT:
            columns[name] = index
    for required in REQUIRED_COLUMNS:
        if required not in columns:
            errors.append(RowError(number, required, f"the required column {required} is missing"))
    if CORRECT in columns and flags:
        errors.append(
            RowError(
                number,
                CORRECT,
                "use either the correct column or the is_correct_1 … is_correct_4 columns, "
                "not both",
            )
        )
    elif CORRECT not in columns and not flags:
        errors.append(
            RowError(
                number,
                CORRECT,
                "the required column correct is missing (or the older is_correct_1 … "
                "is_correct_4 columns)",
            )
        )
    for n, (name, _) in sorted(flags.items()):
        if n not in answers:
            errors.append(RowError(number, name, f"{name} has no answer_{n} column"))
    if errors:
        return None
    return _Layout(
        header_row=number,
        columns=columns,
        answers=tuple((n, index, f"answer_{n}") for n, index in sorted(answers.items())),
        extra_answers=tuple(extra),
        flags=flags,
    )


def _new_quiz(
    number: int,
    quiz_id: int | None,
    title: str,
    row: Sequence[Cell],
    layout: _Layout,
    errors: list[RowError],
) -> ParsedQuiz:
    cols = layout.columns
    width = len(row)
    if len(title) > MAX_TITLE:
        errors.append(
            RowError(number, QUIZ_TITLE, f"quiz_title is longer than {MAX_TITLE} characters")
        )
    description: str | None = None
    index = cols.get(QUIZ_DESCRIPTION)
    if index is not None and index < width:
        description = cell_text(row[index]) or None
        if description and len(description) > MAX_DESCRIPTION:
            errors.append(
                RowError(
                    number,
                    QUIZ_DESCRIPTION,
                    f"quiz_description is longer than {MAX_DESCRIPTION} characters",
                )
            )
    frequency = 1
    index = cols.get(FREQUENCY_DAYS)
    if index is not None and index < width and not _blank(row[index]):
        parsed = parse_positive_int(row[index])
        if parsed is None or parsed > MAX_FREQUENCY_DAYS:
            errors.append(
                RowError(
                    number,
                    FREQUENCY_DAYS,
                    f"frequency_days must be a whole number from 1 to {MAX_FREQUENCY_DAYS} "
                    f"(found {cell_text(row[index])!r})",
                )
            )
        else:
            frequency = parsed
    return ParsedQuiz(
        row=number,
        quiz_id=quiz_id,
        title=title,
        description=description,
        frequency_days=frequency,
    )


def _read_question(
    number: int, row: Sequence[Cell], layout: _Layout, errors: list[RowError]
) -> ParsedQuestion:
    width = len(row)
    q_index = layout.columns[QUESTION]
    text = cell_text(row[q_index]) if q_index < width else ""
    if not text:
        errors.append(RowError(number, QUESTION, "the question text is missing"))
    elif len(text) > MAX_QUESTION:
        errors.append(
            RowError(number, QUESTION, f"the question is longer than {MAX_QUESTION} characters")
        )

    filled: dict[int, str] = {}
    columns: list[str] = []
    for n, index, column in layout.answers:
        if index >= width:
            continue
        value = row[index]
        answer = value.strip() if type(value) is str else cell_text(value)
        if answer:
            filled[n] = answer
            columns.append(column)
            if len(answer) > MAX_ANSWER:
                errors.append(
                    RowError(number, column, f"the answer is longer than {MAX_ANSWER} characters")
                )
    for name, index in layout.extra_answers:
        if index < width and not _blank(row[index]):
            errors.append(RowError(number, name, f"a question has at most {MAX_ANSWERS} answers"))

    correct = _read_correct(number, row, layout, filled, errors)

    if len(filled) < MIN_ANSWERS:
        missing = next((column for n, _, column in layout.answers if n not in filled), "answer_2")
        errors.append(
            RowError(
                number,
                missing,
                f"a question needs at least {MIN_ANSWERS} answers (this one has {len(filled)})",
            )
        )
    if len({answer.casefold() for answer in filled.values()}) != len(filled):
        seen: dict[str, int] = {}
        for n, answer in filled.items():
            folded = answer.casefold()
            if folded in seen:
                errors.append(
                    RowError(number, f"answer_{n}", f"answer_{n} repeats answer_{seen[folded]}")
                )
            else:
                seen[folded] = n
    return ParsedQuestion(
        row=number,
        text=text,
        answers=[(answer, n in correct) for n, answer in filled.items()],
        columns=columns,
    )


def _read_correct(
    number: int,
    row: Sequence[Cell],
    layout: _Layout,
    filled: dict[int, str],
    errors: list[RowError],
) -> set[int]:
    width = len(row)
    if layout.flags:
        correct: set[int] = set()
        first_flag = min(layout.flags.values(), key=lambda item: item[1])[0]
        for n, (name, index) in sorted(layout.flags.items()):
            value = row[index] if index < width else None
            flag = parse_flag(value)
            if flag is None:
                errors.append(
                    RowError(
                        number,
                        name,
                        f"{name} must be TRUE or FALSE (or 1/0, yes/no); found "
                        f"{cell_text(value)!r}",
                    )
                )
            elif flag:
                if n not in filled:
                    errors.append(
                        RowError(number, name, f"{name} marks answer_{n}, which is empty")
                    )
                correct.add(n)
        if not correct and all(
            parse_flag(row[index] if index < width else None) is not None
            for _, index in layout.flags.values()
        ):
            errors.append(RowError(number, first_flag, "no answer is marked correct"))
        return correct

    index = layout.columns[CORRECT]
    value = row[index] if index < width else None
    if _blank(value):
        errors.append(
            RowError(number, CORRECT, "no correct answer: give its number, e.g. 2 or 1,3")
        )
        return set()
    parsed = parse_correct(value)
    if isinstance(parsed, str):
        errors.append(RowError(number, CORRECT, parsed))
        return set()
    if not parsed:
        errors.append(
            RowError(number, CORRECT, "no correct answer: give its number, e.g. 2 or 1,3")
        )
    for n in sorted(parsed):
        if not 1 <= n <= MAX_ANSWERS:
            errors.append(
                RowError(number, CORRECT, f"answer numbers go from 1 to {MAX_ANSWERS} (found {n})")
            )
        elif n not in filled:
            errors.append(
                RowError(number, CORRECT, f"correct points at answer_{n}, which is empty")
            )
    return parsed
