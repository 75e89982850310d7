"""The archive checks on their own (pure): what passes, what is refused, at any chunking."""

from __future__ import annotations

import zipfile
from io import BytesIO

import pytest

from qoach.errors import Unprocessable
from qoach.quizzes.excel_import.safety import ArchiveLimits, _PartScanner, check_workbook
from tests.quizzes.excel_import.workbooks import HEADER, question_rows, rewrite, xlsx

LIMITS = ArchiveLimits(max_entries=100, max_uncompressed_bytes=10 * 1024 * 1024, max_rows=50)


def valid() -> bytes:
    return xlsx([HEADER, *question_rows("A", 3)])


def refused(content: bytes, limits: ArchiveLimits = LIMITS) -> Unprocessable:
    with pytest.raises(Unprocessable) as caught:
        check_workbook(content, limits)
    return caught.value


def scan(document: bytes, split: int, limits: ArchiveLimits = LIMITS) -> None:
    scanner = _PartScanner("sheet.xml", limits)
    scanner.feed(document[:split])
    scanner.feed(document[split:])
    scanner.finish()


def test_a_plain_workbook_passes() -> None:
    check_workbook(valid(), LIMITS)


def test_stored_entries_pass() -> None:
    source = zipfile.ZipFile(BytesIO(valid()))
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    check_workbook(out.getvalue(), LIMITS)


def test_other_compression_methods_are_refused() -> None:
    source = zipfile.ZipFile(BytesIO(valid()))
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_BZIP2) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    assert "compression" in refused(out.getvalue()).detail


def test_binary_workbooks_are_refused() -> None:
    content = rewrite(valid(), add={"xl/workbook.bin": b"\0"})
    assert refused(content).code == "invalid_file"


@pytest.mark.parametrize("declaration", [b"<!DOCTYPE x>", b"<!doctype x>", b'<!ENTITY a "b">'])
def test_dtd_anywhere_is_refused(declaration: bytes) -> None:
    content = rewrite(valid(), add={"customXml/item1.xml": b"<?xml version='1.0'?>" + declaration})
    assert "DOCTYPE or ENTITY" in refused(content).detail


def test_rows_limit() -> None:
    rows = [HEADER, *question_rows("A", 25), *question_rows("B", 25)]
    check_workbook(xlsx(rows), LIMITS)  # exactly 50 rows below the header
    error = refused(xlsx([*rows, *question_rows("C", 1)]))
    assert error.code == "import_invalid"
    assert error.extra["errors"] == [
        {"row": 52, "column": None, "message": error.detail},
    ]


FAR = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row><row><c r="XFD1048576"/></row>'
TRICKS = [
    FAR,
    b'<row r="1"><c r="A1"/></row><x:c r="XFD1048576" t="n"/>',
    b'<row r="1"><c t="s" a="1>2" r="XFD1048576"/></row>',
    b'<row r="1"><c t="s" a="1<2" r="XFD1048576"/></row>',
    b"<row r='1'><c t='s' r = 'XFD1048576' /></row>",
    b'<row r="1"><c t="n" r="xfd1048576"/></row>',
    b'<row r="1"><c r="A1" r="XFD1048576"/></row>',
    b'<row r="1048576"><c/></row>',
    b"<row>" + b"<c/>" * 70 + b"</row>" * 3 + b"<row><c/></row>" * 60,
]


@pytest.mark.parametrize("document", TRICKS, ids=range(len(TRICKS)))
def test_far_cells_are_found_however_the_stream_is_cut(document: bytes) -> None:
    document = b"<worksheet><sheetData>" + document + b"</sheetData></worksheet>"
    for split in range(len(document) + 1):
        with pytest.raises(Unprocessable):
            scan(document, split)


def test_a_normal_sheet_passes_however_the_stream_is_cut() -> None:
    sheet = zipfile.ZipFile(BytesIO(valid())).read("xl/worksheets/sheet1.xml")
    for split in range(len(sheet) + 1):
        scan(sheet, split)


def test_sequential_cells_count_towards_the_grid() -> None:
    limits = ArchiveLimits(max_entries=10, max_uncompressed_bytes=10**6, max_rows=2, max_columns=4)
    # a grid of at most (2 + 1) rows × 4 columns
    scan(b"<row>" + b"<c/>" * 4 + b"</row>", 0, limits)
    scan(b"<row/><row/><row>" + b"<c/>" * 4 + b"</row>", 0, limits)
    with pytest.raises(Unprocessable):
        scan(b"<row/><row/><row>" + b"<c/>" * 5 + b"</row>", 0, limits)
    with pytest.raises(Unprocessable):
        scan(b"<row/><row/><row/><row><c/></row>", 0, limits)


def test_big_sheet_streams_in_chunks() -> None:
    """A sheet XML of several chunks, the far cell after the first chunk boundaries."""
    limits = ArchiveLimits(max_entries=100, max_uncompressed_bytes=10**8, max_rows=10_000)
    rows = [HEADER]
    for n in range(20):
        rows += question_rows(f"Quiz {n}", 100)
    content = xlsx(rows)
    sheet = zipfile.ZipFile(BytesIO(content)).read("xl/worksheets/sheet1.xml")
    assert len(sheet) > 4 * 64 * 1024
    check_workbook(content, limits)
    far = rewrite(
        content,
        replace={
            "xl/worksheets/sheet1.xml": lambda xml: xml.replace(
                b"</sheetData>", b'<row><c r="A20000"/></row></sheetData>'
            )
        },
    )
    assert refused(far, limits).code == "import_invalid"
