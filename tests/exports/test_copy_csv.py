"""On PostgreSQL the CSV export comes from COPY: byte for byte what the Python writer makes."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from qoach.dates import DateRange
from qoach.exports import service
from qoach.exports.repository import ExportFilters
from qoach.exports.service import _CrLf
from tests.factories import Factory

TRICKY = [
    ("=1+1 formula", [("a,b", True), ('say "hi"', False), ("-minus", False), ("@at", False)]),
    ("line one\nline two", [("\ttab", True), ("\rcr", False), ("plain", False)]),
    ('"quoted", and comma', [("", False), ("é ü 中文", True), ("+plus", False)]),
]


async def _collect(body) -> bytes:  # type: ignore[no-untyped-def]
    async with contextlib.aclosing(body) as chunks:
        return b"".join([chunk async for chunk in chunks])


@pytest.mark.postgres_only
async def test_copy_bytes_equal_the_python_writer(clean_app: FastAPI, factory: Factory) -> None:
    owner = await factory.user(email="=owner@example.com")
    member = await factory.user()
    company = await factory.company(owner, members=[member])
    quiz = await factory.quiz(company, title='-Title, with "quotes"', questions=TRICKY)
    moments = [
        datetime(2026, 11, 2, 8, 0, 0, tzinfo=UTC),  # no microseconds
        datetime(2026, 11, 2, 8, 0, 0, 120, tzinfo=UTC),
        datetime(2026, 11, 3, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    await factory.attempt(quiz, member, choices=[[0, 1, 3], [], [0, 2]], completed_at=moments[0])
    await factory.attempt(quiz, owner, choices=[[2], [0, 1, 2], [1]], completed_at=moments[1])
    await factory.attempt(quiz, member, choices=[[], [1], []], completed_at=moments[2])

    maker = clean_app.state.read_sessionmaker
    for filters in (
        ExportFilters(DateRange(None, None), company_id=company.id),
        ExportFilters(DateRange(None, None), user_id=member.id, quiz_id=quiz.id),
        ExportFilters(DateRange(moments[1], moments[2]), company_id=company.id),
    ):
        via_copy = await _collect(service._pg_csv(maker, filters))
        via_python = await _collect(service._csv(service._batches(maker, filters)))
        assert via_copy == via_python
        assert via_copy.count(b"\r\n") >= 4  # header and rows end with CRLF


def test_crlf_only_outside_quotes_across_chunks() -> None:
    text = b'1,"a\nb",x\n2,"say ""hi""\n",y\n3,z\n'
    expected = b'1,"a\nb",x\r\n2,"say ""hi""\n",y\r\n3,z\r\n'
    for cut in range(len(text) + 1):
        convert = _CrLf()
        assert convert(text[:cut]) + convert(text[cut:]) == expected, cut
