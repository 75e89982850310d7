"""Writing the import layout: the template, and a quiz exported so that it imports back.

Texts are written with `write_string`, so a question that starts with `=` stays
text and never becomes a formula in the file we hand out. Synchronous and
CPU-bound: call it from a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

import xlsxwriter

from qoach.quizzes.excel_import.parser import COLUMNS, MAX_ANSWERS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_WIDTHS = {
    "quiz_id": 9,
    "quiz_title": 30,
    "quiz_description": 40,
    "frequency_days": 15,
    "question": 50,
    "correct": 10,
}


@dataclass(frozen=True, slots=True)
class SheetQuiz:
    quiz_id: int | None
    title: str
    description: str | None
    frequency_days: int
    questions: Sequence[tuple[str, Sequence[tuple[str, bool]]]]


EXAMPLE_QUIZ = SheetQuiz(
    quiz_id=None,
    title="Example: workplace safety basics",
    description="An example to show the layout: replace these rows with your own quizzes.",
    frequency_days=30,
    questions=(
        (
            "What should you do first when the fire alarm sounds?",
            (
                ("Finish the current task", False),
                ("Leave by the nearest exit", True),
                ("Take the elevator down", False),
                ("Call a colleague", False),
            ),
        ),
        (
            "Which of these belong in a first-aid kit?",
            (("Bandages", True), ("Stapler", False), ("Disinfectant", True)),
        ),
        ("Wet floors should be signposted.", (("True", True), ("False", False))),
    ),
)

_HELP = (
    ("Column", "What to write"),
    (
        "quiz_id",
        "Leave empty to create a quiz. The id of one of your company's quizzes updates "
        "it (a new version). An existing quiz with exactly the same title is updated too.",
    ),
    (
        "quiz_title",
        "Required on every row: consecutive rows with the same title (or the same "
        "quiz_id) are one quiz.",
    ),
    ("quiz_description", "Optional; read from the quiz's first row."),
    (
        "frequency_days",
        "How often members should take the quiz, in days (1 to 3650; "
        "default 1); read from the quiz's first row.",
    ),
    ("question", "One question per row; a quiz has 2 to 100 questions."),
    ("answer_1 … answer_4", "2 to 4 answers, each different."),
    ("correct", "The numbers of the right answers: 2, or 1,3 for several."),
    (
        "",
        "Only the first sheet is imported; columns may be in any order. The whole file is "
        "checked first: if anything is wrong nothing is imported and every problem is listed "
        "with its row and column.",
    ),
)


def write_quizzes(quizzes: Sequence[SheetQuiz], *, with_help: bool = False) -> bytes:
    """An .xlsx in the import layout, one row per question."""
    buffer = BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    try:
        bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7"})
        wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        sheet = workbook.add_worksheet("Quizzes")
        for col, name in enumerate(COLUMNS):
            sheet.write_string(0, col, name, bold)
            sheet.set_column(col, col, _WIDTHS.get(name, 22))
        sheet.freeze_panes(1, 0)
        row = 1
        for quiz in quizzes:
            for position, (text, answers) in enumerate(quiz.questions):
                _write_question(sheet, row, quiz, position == 0, text, answers)
                row += 1
        if with_help:
            help_sheet = workbook.add_worksheet("How to fill")
            help_sheet.set_column(0, 0, 22)
            help_sheet.set_column(1, 1, 100)
            for r, (name, text) in enumerate(_HELP):
                help_sheet.write_string(r, 0, name, bold if r == 0 else None)
                help_sheet.write_string(r, 1, text, bold if r == 0 else wrap)
    finally:
        workbook.close()
    return buffer.getvalue()


def _write_question(
    sheet: xlsxwriter.worksheet.Worksheet,
    row: int,
    quiz: SheetQuiz,
    first: bool,
    text: str,
    answers: Sequence[tuple[str, bool]],
) -> None:
    col = {name: index for index, name in enumerate(COLUMNS)}
    if quiz.quiz_id is not None:
        sheet.write_number(row, col["quiz_id"], quiz.quiz_id)
    sheet.write_string(row, col["quiz_title"], quiz.title)
    if first:
        if quiz.description:
            sheet.write_string(row, col["quiz_description"], quiz.description)
        sheet.write_number(row, col["frequency_days"], quiz.frequency_days)
    sheet.write_string(row, col["question"], text)
    for n, (answer, _) in enumerate(answers[:MAX_ANSWERS], start=1):
        sheet.write_string(row, col[f"answer_{n}"], answer)
    correct = ",".join(str(n) for n, (_, ok) in enumerate(answers, start=1) if ok)
    sheet.write_string(row, col["correct"], correct)


def template_workbook() -> bytes:
    """The header and one example quiz, with a second sheet explaining the columns."""
    return write_quizzes([EXAMPLE_QUIZ], with_help=True)
