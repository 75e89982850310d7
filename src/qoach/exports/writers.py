"""Serialising export records as JSON, CSV (RFC 4180) and XLSX, batch by batch.

Pure and synchronous: the service feeds batches of records in and streams the
bytes out; the XLSX writer is driven from a worker thread.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import xlsxwriter

COLUMNS = (
    "attempt_id",
    "completed_at",
    "user_id",
    "user_email",
    "company_id",
    "quiz_id",
    "quiz_title",
    "question_id",
    "question_text",
    "selected_answers",
    "is_correct",
)
SELECTED_SEPARATOR = "; "
# Excel, LibreOffice and Sheets treat a cell starting with one of these as a formula
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576  # per worksheet, header included


class Record(NamedTuple):
    attempt_id: int
    completed_at: str
    user_id: int
    user_email: str
    company_id: int
    quiz_id: int
    quiz_title: str
    question_id: int
    question_text: str
    selected_answers: str
    is_correct: bool


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a `Z`, as the API writes timestamps."""
    return moment.isoformat().replace("+00:00", "Z")


def neutralise(value: str) -> str:
    """Prefix a single quote to a cell a spreadsheet would read as a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


# --------------------------------------------------------------------------- JSON


def json_head(metadata: dict[str, Any]) -> bytes:
    return ('{"metadata": ' + json.dumps(metadata, ensure_ascii=False) + ', "rows": [').encode()


def json_rows(records: Sequence[Record], *, first: bool) -> bytes:
    body = ", ".join(json.dumps(r._asdict(), ensure_ascii=False) for r in records)
    return (body if first else ", " + body).encode()


JSON_TAIL = b"]}"


# ---------------------------------------------------------------------------- CSV


def _csv_bytes(rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def csv_header() -> bytes:
    return _csv_bytes([COLUMNS])


def csv_rows(records: Sequence[Record]) -> bytes:
    return _csv_bytes(
        (
            r.attempt_id,
            r.completed_at,  # ISO 8601, starts with a digit
            r.user_id,
            neutralise(r.user_email),
            r.company_id,
            r.quiz_id,
            neutralise(r.quiz_title),
            r.question_id,
            neutralise(r.question_text),
            neutralise(r.selected_answers),
            "true" if r.is_correct else "false",
        )
        for r in records
    )


# --------------------------------------------------------------------------- XLSX


class XlsxExport:
    """A workbook in xlsxwriter's constant-memory mode (rows flushed as written).

    Cells are written with `write_string` / `write_number` only, so text is
    never read as a formula. A sheet that fills up continues on a new one.
    """

    _WIDTHS = (10, 24, 8, 28, 10, 8, 30, 11, 50, 40, 10)

    def __init__(self, path: str) -> None:
        self._book = xlsxwriter.Workbook(
            path,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self._bold = self._book.add_format({"bold": True})
        self._sheet: Any = None
        self._row = XLSX_MAX_ROWS  # forces a first sheet

    def _new_sheet(self) -> None:
        self._sheet = self._book.add_worksheet()
        for col, (name, width) in enumerate(zip(COLUMNS, self._WIDTHS, strict=True)):
            self._sheet.set_column(col, col, width)
            self._sheet.write_string(0, col, name, self._bold)
        self._row = 1

    def write(self, records: Sequence[Record]) -> None:
        for record in records:
            if self._row >= XLSX_MAX_ROWS:
                self._new_sheet()
            sheet, row = self._sheet, self._row
            for col, value in enumerate(record[:-1]):
                if isinstance(value, str):
                    sheet.write_string(row, col, value)
                else:
                    sheet.write_number(row, col, value)
            sheet.write_string(row, len(COLUMNS) - 1, "true" if record.is_correct else "false")
            self._row += 1

    def close(self) -> None:
        if self._sheet is None:
            self._new_sheet()  # an empty export still has its header row
        self._book.close()
