"""Files built to hurt: refused with 422 / 413, and the server answers normally afterwards."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.config import Settings
from tests.quizzes.excel_import.conftest import Staff
from tests.quizzes.excel_import.helpers import counts, upload
from tests.quizzes.excel_import.workbooks import (
    HEADER,
    XLSX,
    billion_laughs,
    deflate_bomb,
    lying_entry,
    many_entries,
    ole2,
    plain_zip,
    question_rows,
    rewrite,
    with_cell,
    xlsx,
)


def valid() -> bytes:
    return xlsx([HEADER, *question_rows("Valid", 2)])


def _utf16_sheet() -> bytes:
    return rewrite(
        valid(),
        replace={"xl/worksheets/sheet1.xml": lambda xml: xml.decode().encode("utf-16")},
    )


def _truncated() -> bytes:
    data = valid()
    return data[: len(data) // 2]


def _flipped() -> bytes:
    data = bytearray(valid())
    middle = len(data) // 3
    data[middle : middle + 64] = bytes(64)  # damage compressed data
    return bytes(data)


def _ratio_bomb() -> bytes:
    # honest sizes, under the total limit, but 4 MiB of one byte repeated
    return rewrite(valid(), add={"xl/media/padding.bin": b"\0" * (4 * 1024 * 1024)})


def _external_entity() -> bytes:
    def patch(xml: bytes) -> bytes:
        head, _, rest = xml.partition(b"?>")
        doctype = b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        return head + b"?>" + doctype + rest.replace(b"<v>", b"<v>&xxe;", 1)

    return rewrite(valid(), replace={"xl/sharedStrings.xml": patch})


# name, builder, expected code, a word of the message
HOSTILE: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("random bytes", lambda: os.urandom(4096), "invalid_file", "not an .xlsx"),
    ("empty file", lambda: b"", "invalid_file", "empty"),
    ("zip that is not an xlsx", plain_zip, "invalid_file", "not an .xlsx"),
    ("legacy .xls (OLE2)", lambda: ole2(encrypted=False), "invalid_file", ".xls"),
    ("encrypted xlsx (OLE2)", lambda: ole2(encrypted=True), "invalid_file", "password"),
    ("truncated zip", _truncated, "invalid_file", "corrupt"),
    ("damaged entry", _flipped, "invalid_file", "corrupt"),
    ("zip bomb: declared size", lambda: deflate_bomb(60 * 1024 * 1024), "invalid_file", "unpacks"),
    ("zip bomb: ratio", _ratio_bomb, "invalid_file", "zip bomb"),
    ("zip bomb: lying size", lambda: lying_entry(valid()), "invalid_file", "declared size"),
    ("too many entries", lambda: many_entries(valid(), 1000), "invalid_file", "entries"),
    ("billion laughs", lambda: billion_laughs(valid()), "invalid_file", "DOCTYPE"),
    ("external entity", _external_entity, "invalid_file", "ENTITY"),
    ("UTF-16 sheet", _utf16_sheet, "invalid_file", "UTF-8"),
    (
        "one cell at XFD1048576",
        lambda: with_cell(valid(), b'<c r="XFD1048576" t="b"><v>1</v></c>'),
        "import_invalid",
        "more than",
    ),
    (
        "a namespaced far cell",
        lambda: with_cell(valid(), b'<x:c r="XFD1048576" t="b"><v>1</v></c>'),
        "import_invalid",
        "more than",
    ),
    (
        "a far cell behind a '>' in an attribute",
        lambda: with_cell(valid(), b'<c t="b" x="a>b" r="A1048576"><v>1</v></c>'),
        "import_invalid",
        "more than",
    ),
    (
        "a cell with a '<' in an attribute",
        lambda: with_cell(valid(), b'<c t="b" x="a<b" r="XFD1048576"><v>1</v></c>'),
        "invalid_file",
        "malformed",
    ),
    (
        "a wide and tall sheet",
        lambda: with_cell(
            xlsx([HEADER, *question_rows("Tall", 100)] * 20),
            b'<c r="XFD5" t="b"><v>1</v></c>',
        ),
        "invalid_file",
        "columns",
    ),
]


@pytest.mark.parametrize(
    ("builder", "code", "word"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
async def test_hostile_file_is_refused_and_the_server_carries_on(
    client: AsyncClient,
    staff: Staff,
    db: AsyncSession,
    builder: Callable[[], bytes],
    code: str,
    word: str,
) -> None:
    before = await counts(db)
    response = await upload(client, staff.company.id, builder(), staff.headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code, body
    assert word.lower() in body["detail"].lower(), body["detail"]
    assert await counts(db) == before
    # the next, normal request is served as usual
    after = await upload(client, staff.company.id, valid(), staff.headers)
    assert after.status_code == 200, after.text
    assert (await client.get("/")).status_code == 200


async def test_a_far_column_in_a_small_sheet_is_harmless(client: AsyncClient, staff: Staff) -> None:
    """XFD is allowed when the grid stays small: the cell is simply not a known column."""
    content = with_cell(valid(), b'<c r="XFD2" t="b"><v>1</v></c>')
    response = await upload(client, staff.company.id, content, staff.headers, dry_run=True)
    assert response.status_code == 200, response.text


async def test_upload_over_the_limit_is_413_from_content_length(
    client: AsyncClient, staff: Staff, settings: Settings
) -> None:
    content = os.urandom(settings.import_max_bytes + 100 * 1024)
    response = await upload(client, staff.company.id, content, staff.headers)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_chunked_upload_over_the_limit_is_413_while_streaming(
    client: AsyncClient, staff: Staff, settings: Settings
) -> None:
    """No Content-Length: the cap holds as the body streams in."""
    boundary = "qoach-test-boundary"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.xlsx"\r\nContent-Type: {XLSX}\r\n\r\n'
        ).encode()
        chunk = os.urandom(64 * 1024)
        for _ in range(settings.import_max_bytes // len(chunk) + 8):
            sent += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        f"/companies/{staff.company.id}/quizzes/import",
        content=body(),
        headers={**staff.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    after = await upload(client, staff.company.id, valid(), staff.headers, dry_run=True)
    assert after.status_code == 200


async def test_file_just_over_the_limit_inside_a_small_envelope_is_413(
    client: AsyncClient, staff: Staff, settings: Settings
) -> None:
    """The body cap leaves room for the multipart envelope; the file itself is checked."""
    content = os.urandom(settings.import_max_bytes + 1)
    response = await upload(client, staff.company.id, content, staff.headers)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert str(settings.import_max_bytes) in response.json()["detail"]
