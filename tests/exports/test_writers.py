"""The writers on their own: neutralising, CSV quoting, XLSX sheets that fill up."""

from __future__ import annotations

import csv
import io
import json

import openpyxl

from qoach.exports import writers
from qoach.exports.writers import Record, XlsxExport


def record(n: int, text: str = "plain") -> Record:
    return Record(
        n, "2026-10-01T08:00:00Z", 7, "a@example.com", 3, 4, "Quiz", 10 + n, text, "", n % 2 == 0
    )


def test_neutralise() -> None:
    for risky in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert writers.neutralise(risky) == "'" + risky
    for safe in ("", "a=1", " =1", "'=1", "1-2", "x@y"):
        assert writers.neutralise(safe) == safe


def test_csv_is_rfc4180() -> None:
    data = writers.csv_header() + writers.csv_rows([record(1, 'a "quoted", multi\r\nline')])
    assert data.count(b"\r\n") == 3  # header, the row's end, and the CRLF inside the quotes
    assert b'"a ""quoted"", multi\r\nline"' in data
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert rows[0] == list(writers.COLUMNS)
    assert rows[1][8] == 'a "quoted", multi\r\nline'
    assert rows[1][10] == "false"


def test_json_pieces_make_one_document() -> None:
    data = (
        writers.json_head({"user_id": 1})
        + writers.json_rows([record(1), record(2)], first=True)
        + writers.json_rows([record(3)], first=False)
        + writers.JSON_TAIL
    )
    document = json.loads(data)
    assert document["metadata"] == {"user_id": 1}
    assert [r["attempt_id"] for r in document["rows"]] == [1, 2, 3]
    assert document["rows"][1]["is_correct"] is True


def test_xlsx_continues_on_a_new_sheet(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 3)  # header + 2 rows per sheet
    path = str(tmp_path / "out.xlsx")
    book = XlsxExport(path)
    book.write([record(n) for n in range(1, 4)])
    book.write([record(n) for n in range(4, 6)])
    book.close()
    sheets = openpyxl.load_workbook(path).worksheets
    assert [[row[0] for row in s.iter_rows(values_only=True)] for s in sheets] == [
        ["attempt_id", 1, 2],
        ["attempt_id", 3, 4],
        ["attempt_id", 5],
    ]
