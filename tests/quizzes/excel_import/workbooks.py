"""Build .xlsx files in memory for the import tests, valid and hostile."""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from io import BytesIO
from typing import Any

import xlsxwriter

HEADER = [
    "quiz_id",
    "quiz_title",
    "quiz_description",
    "frequency_days",
    "question",
    "answer_1",
    "answer_2",
    "answer_3",
    "answer_4",
    "correct",
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(rows: Sequence[Sequence[Any]], *, sheets: Sequence[str] = ("Quizzes",)) -> bytes:
    """A workbook whose first sheet holds `rows` (None = no cell); strings stay strings."""
    buffer = BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    first, *others = sheets
    sheet = workbook.add_worksheet(first)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, bool):
                sheet.write_boolean(r, c, value)
            elif isinstance(value, int | float):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    for name in others:
        workbook.add_worksheet(name).write_string(0, 0, "not read")
    workbook.close()
    return buffer.getvalue()


def question_rows(
    title: str,
    count: int = 2,
    *,
    quiz_id: int | str | None = None,
    description: str | None = None,
    frequency: int | str | None = None,
    prefix: str = "Q",
) -> list[list[Any]]:
    """`count` rows of one quiz in the HEADER layout: 3 answers, the 2nd correct."""
    rows = []
    for i in range(count):
        rows.append(
            [
                quiz_id,
                title,
                description if i == 0 else None,
                frequency if i == 0 else None,
                f"{prefix}{i + 1} of {title}?",
                f"{prefix}{i + 1} wrong",
                f"{prefix}{i + 1} right",
                f"{prefix}{i + 1} also wrong",
                None,
                "2",
            ]
        )
    return rows


def rewrite(
    content: bytes,
    *,
    replace: dict[str, bytes | Callable[[bytes], bytes]] | None = None,
    add: dict[str, bytes] | None = None,
) -> bytes:
    """The same archive with some entries replaced or added (deflated)."""
    replace = replace or {}
    source = zipfile.ZipFile(BytesIO(content))
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            change = replace.get(info.filename)
            if callable(change):
                data = change(data)
            elif change is not None:
                data = change
            target.writestr(info.filename, data)
        for name, data in (add or {}).items():
            target.writestr(name, data)
    return out.getvalue()


def sheet_xml(content: bytes) -> bytes:
    return zipfile.ZipFile(BytesIO(content)).read("xl/worksheets/sheet1.xml")


def with_cell(content: bytes, cell: bytes) -> bytes:
    """Add raw cell markup (e.g. b'<c r="XFD1048576" t="b"><v>1</v></c>') in a new last row."""

    def patch(xml: bytes) -> bytes:
        return xml.replace(b"</sheetData>", b"<row>" + cell + b"</row></sheetData>")

    return rewrite(content, replace={"xl/worksheets/sheet1.xml": patch})


def billion_laughs(content: bytes) -> bytes:
    entities = b'<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    doctype = b"<!DOCTYPE worksheet [" + entities + b"]>"

    def patch(xml: bytes) -> bytes:
        head, _, rest = xml.partition(b"?>")
        return head + b"?>" + doctype + rest.replace(b"<v>", b"<v>&lol9;", 1)

    return rewrite(content, replace={"xl/worksheets/sheet1.xml": patch})


def deflate_bomb(size: int) -> bytes:
    """A zip with one honest, highly compressible entry of `size` bytes besides an xlsx."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        target.writestr("xl/workbook.xml", b"<workbook/>")
        with target.open("xl/worksheets/sheet1.xml", "w") as entry:
            block = b"<row/>" * 100_000
            written = 0
            while written < size:
                entry.write(block)
                written += len(block)
    return out.getvalue()


def lying_entry(content: bytes, name: str = "xl/worksheets/sheet1.xml") -> bytes:
    """The archive with `name` claiming 100 bytes while its stream inflates to ~20 MB.

    The declared size and CRC describe the stream's first 100 bytes, so a reader
    that trusts them sees a valid entry; one that does not inflates all of it.
    """
    source = zipfile.ZipFile(BytesIO(content))
    entries = []
    for info in source.infolist():
        body = source.read(info)
        stream = _deflate(body)
        if info.filename == name:
            body = body + b"<!-- " + b"x" * 20_000_000 + b" -->"
            stream = _deflate(body)
            body = body[:100]
        entries.append((info.filename.encode(), stream, zlib.crc32(body), len(body)))
    return build_zip(entries)


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def build_zip(entries: Sequence[tuple[bytes, bytes, int, int]]) -> bytes:
    """A zip written by hand: (name, deflated stream, declared CRC, declared size) each."""
    out = BytesIO()
    directory = []
    for name, stream, crc, size in entries:
        offset = out.tell()
        out.write(
            struct.pack(
                "<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(stream), size, len(name), 0
            )
        )
        out.write(name + stream)
        directory.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(stream),
                size,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name
        )
    start = out.tell()
    out.write(b"".join(directory))
    out.write(
        struct.pack(
            "<4s4H2LH",
            b"PK\x05\x06",
            0,
            0,
            len(directory),
            len(directory),
            out.tell() - start,
            start,
            0,
        )
    )
    return out.getvalue()


def many_entries(content: bytes, count: int) -> bytes:
    return rewrite(content, add={f"customXml/item{i}.xml": b"<a/>" for i in range(count)})


def ole2(encrypted: bool) -> bytes:
    body = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    if encrypted:
        body += "EncryptionInfo".encode("utf-16-le") + "EncryptedPackage".encode("utf-16-le")
    return body + os.urandom(2048)


def plain_zip() -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        target.writestr("readme.txt", "hello")
    return out.getvalue()
