"""The pure parser: rows of cells in, quizzes or row/column errors out. No HTTP, no DB."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from qoach.quizzes import schemas
from qoach.quizzes.excel_import import parser
from qoach.quizzes.excel_import.parser import (
    ParseResult,
    cell_text,
    normalize_header,
    parse_correct,
    parse_flag,
    parse_positive_int,
    parse_rows,
)

HEADER = list(parser.COLUMNS)


def row(
    title: Any,
    question: Any,
    *answers: Any,
    correct: Any = "1",
    quiz_id: Any = "",
    description: Any = "",
    frequency: Any = "",
) -> list[Any]:
    cells = [*answers, *[""] * (4 - len(answers))]
    return [quiz_id, title, description, frequency, question, *cells, correct]


def where(result: ParseResult) -> list[tuple[int, str | None]]:
    return [(error.row, error.column) for error in result.errors]


def test_limits_agree_with_quiz_create() -> None:
    assert parser.MIN_QUESTIONS == schemas.MIN_QUESTIONS
    assert parser.MAX_QUESTIONS == schemas.MAX_QUESTIONS
    assert parser.MIN_ANSWERS == schemas.MIN_ANSWERS
    assert parser.MAX_ANSWERS == schemas.MAX_ANSWERS
    assert parser.MAX_FREQUENCY_DAYS == schemas.MAX_FREQUENCY_DAYS

    def body(
        title: str = "T", question: str = "Q", answer: str = "A", description: str = ""
    ) -> Any:
        questions = [
            {
                "text": question,
                "answers": [
                    {"text": answer, "is_correct": True},
                    {"text": "other", "is_correct": False},
                ],
            }
        ] * 2
        return {"title": title, "description": description, "questions": questions}

    for field, limit in (
        ("title", parser.MAX_TITLE),
        ("description", parser.MAX_DESCRIPTION),
        ("question", parser.MAX_QUESTION),
        ("answer", parser.MAX_ANSWER),
    ):
        schemas.QuizCreate.model_validate(body(**{field: "x" * limit}))
        with pytest.raises(ValidationError):
            schemas.QuizCreate.model_validate(body(**{field: "x" * (limit + 1)}))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("  spaced  ", "spaced"),
        ("", ""),
        (None, ""),
        (2.0, "2"),
        (2.5, "2.5"),
        (7, "7"),
        (True, "TRUE"),
        (False, "FALSE"),
        (date(2026, 11, 30), "2026-11-30"),
        (datetime(2026, 11, 30, 8, 15), "2026-11-30T08:15:00"),
        ("line 1\nline 2 ", "line 1\nline 2"),
    ],
)
def test_cell_text(value: Any, text: str) -> None:
    assert cell_text(value) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", {2}),
        (" 1,3 ", {1, 3}),
        ("1; 3", {1, 3}),
        ("1 2 4", {1, 2, 4}),
        ("2,2", {2}),
        (2.0, {2}),
        (3, {3}),
        ("", set()),
        ("5", {5}),  # out of range is judged by the row, not here
    ],
)
def test_parse_correct(value: Any, expected: set[int]) -> None:
    assert parse_correct(value) == expected


@pytest.mark.parametrize("value", ["two", "1-3", 1.3, True, date(2026, 1, 3), "²"])
def test_parse_correct_refuses(value: Any) -> None:
    assert isinstance(parse_correct(value), str)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (1.0, True),
        ("TRUE", True),
        ("false", False),
        ("Yes", True),
        ("no", False),
        ("", False),
        (None, False),
        ("maybe", None),
        (2, None),
    ],
)
def test_parse_flag(value: Any, expected: bool | None) -> None:
    assert parse_flag(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (7.0, 7),
        ("12", 12),
        (" 3 ", 3),
        ("4.0", 4),
        (0, None),
        (-1, None),
        (1.5, None),
        ("abc", None),
        (True, None),
        ("", None),
    ],
)
def test_parse_positive_int(value: Any, expected: int | None) -> None:
    assert parse_positive_int(value) == expected


def test_normalize_header() -> None:
    assert normalize_header(" Quiz Title ") == "quiz_title"
    assert normalize_header("ANSWER-1") == "answer_1"
    assert normalize_header("is correct 2") == "is_correct_2"


def test_groups_consecutive_rows_by_title_and_reads_quiz_cells_from_the_first() -> None:
    result = parse_rows(
        [
            HEADER,
            row("A", "A1?", "x", "y", description="About A", frequency=3.0),
            row("A", "A2?", "x", "y", correct="2", description="ignored", frequency="99"),
            [""] * 10,  # blank rows are skipped
            row("B", "B1?", "x", "y", "z", correct="1,3"),
            row("B", "B2?", "x", "y"),
        ]
    )
    assert result.ok, result.errors
    a, b = result.quizzes
    assert (a.row, a.title, a.description, a.frequency_days, a.quiz_id) == (
        2,
        "A",
        "About A",
        3,
        None,
    )
    assert [q.row for q in a.questions] == [2, 3]
    assert a.questions[1].answers == [("x", False), ("y", True)]
    assert (b.row, b.description, b.frequency_days) == (5, None, 1)
    assert b.questions[0].answers == [("x", True), ("y", False), ("z", True)]
    questions: Any = b.payload()["questions"]
    assert questions[0] == {
        "text": "B1?",
        "answers": [
            {"text": "x", "is_correct": True},
            {"text": "y", "is_correct": False},
            {"text": "z", "is_correct": True},
        ],
    }


def test_groups_by_quiz_id_whatever_the_later_titles_say() -> None:
    result = parse_rows(
        [
            HEADER,
            row("Kept", "1?", "x", "y", quiz_id=7.0),
            row("Other title", "2?", "x", "y", quiz_id="7"),
            row("Kept", "3?", "x", "y"),  # no id, the same title: still quiz 7
            row("Other title", "1?", "x", "y"),  # no id: a quiz of its own, matched by title
            row("Other title", "2?", "x", "y"),
        ]
    )
    assert result.ok, result.errors
    first, second = result.quizzes
    assert (first.quiz_id, first.title, len(first.questions), first.id_given) == (
        7,
        "Kept",
        3,
        True,
    )
    assert (second.quiz_id, second.title, second.id_given) == (None, "Other title", False)


def test_answer_gaps_keep_column_numbers_for_correct() -> None:
    result = parse_rows(
        [HEADER, row("A", "1?", "x", "", "z", correct="3"), row("A", "2?", "x", "y")]
    )
    assert result.ok, result.errors
    question = result.quizzes[0].questions[0]
    assert question.answers == [("x", False), ("z", True)]
    assert question.columns == ["answer_1", "answer_3"]


def test_rows_are_numbered_from_the_sheet_and_short_rows_are_fine() -> None:
    result = parse_rows(
        [
            ["", ""],
            HEADER,
            row("A", "1?", "x", "y"),
            ["", "A", "", "", "2?", "x"],  # stops after answer_1: one answer, no correct
        ],
        first_row=1,
    )
    assert where(result) == [(4, "correct"), (4, "answer_2")]


def test_every_problem_of_a_row_is_reported_in_sheet_order() -> None:
    result = parse_rows(
        [
            HEADER,
            row("", "", "x", "x", correct="9", frequency="-2"),
            row("B", "ok?", "x", "y"),
            row("B", "ok?", "x", "y"),
            row("", "orphan?", "x", "y"),
        ]
    )
    assert where(result) == [
        (2, "quiz_title"),
        (2, "frequency_days"),
        (2, "question"),
        (2, "correct"),
        (2, "answer_2"),
        (2, "question"),  # the untitled quiz has 1 question
        (5, "quiz_title"),
    ]
    assert result.quizzes[0].has_errors and result.quizzes[1].has_errors
    assert len(result.quizzes[1].questions) == 3  # the untitled row is checked with B


def test_non_consecutive_rows_of_one_quiz() -> None:
    result = parse_rows(
        [
            HEADER,
            row("A", "1?", "x", "y"),
            row("A", "2?", "x", "y"),
            row("B", "1?", "x", "y"),
            row("B", "2?", "x", "y"),
            row("A", "3?", "x", "y"),
            row("A", "4?", "x", "y"),
        ]
    )
    assert where(result) == [(6, "quiz_title")]
    assert "starts at row 2" in result.errors[0].message


def test_unreadable_quiz_id() -> None:
    result = parse_rows(
        [HEADER, row("A", "1?", "x", "y", quiz_id="x1"), row("A", "2?", "x", "y", quiz_id="x1")]
    )
    assert where(result) == [(2, "quiz_id")]
    assert result.quizzes[0].id_given and result.quizzes[0].quiz_id is None


def test_header_problems_stop_before_the_rows() -> None:
    result = parse_rows([["question", "answer_1", "is_correct_1", "is_correct_3"], ["q", "a"]])
    assert where(result) == [
        (1, "quiz_title"),
        (1, "answer_2"),
        (1, "is_correct_3"),
    ]
    assert result.quizzes == []


def test_empty_inputs() -> None:
    assert where(parse_rows([])) == [(1, None)]
    assert where(parse_rows([["", None]])) == [(1, None)]
    assert where(parse_rows([HEADER, ["", ""]])) == [(2, None)]


def test_legacy_flags() -> None:
    header = ["quiz_title", "question", "answer_1", "answer_2", "is_correct_1", "is_correct_2"]
    result = parse_rows(
        [header, ["A", "1?", "x", "y", "yes", 0], ["A", "2?", "x", "y", None, True]]
    )
    assert result.ok, result.errors
    assert [q.answers for q in result.quizzes[0].questions] == [
        [("x", True), ("y", False)],
        [("x", False), ("y", True)],
    ]


def test_too_many_questions_points_at_the_first_extra_row() -> None:
    rows = [HEADER, *(row("A", f"{i}?", "x", "y") for i in range(101))]
    assert where(parse_rows(rows)) == [(102, "question")]
