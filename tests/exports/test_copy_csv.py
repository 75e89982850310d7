"""On PostgreSQL the CSV export is rendered in SQL and streamed by COPY: byte for byte
what the Python writer makes."""

from __future__ import annotations

import contextlib
import itertools
import struct
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from qoach.dates import DateRange
from qoach.exports import service
from qoach.exports.repository import ExportFilters, copy_params
from qoach.exports.service import _CopyText
from tests.factories import Factory

# (question text, [(answer text, correct), ...]): formula prefixes, quotes, commas,
# CR / LF / CRLF, an empty answer, non-ASCII, a question with fewer than 4 answers
TRICKY = [
    ("=1+1 formula", [("a,b", True), ('say "hi"', False), ("-minus", False), ("@at", False)]),
    ("line one\nline two", [("\ttab", True), ("\rcr", False), ("plain", False)]),
    ('"quoted", and comma', [("", False), ("é ü 中文", True), ("+plus", False)]),
    ("", [("crlf\r\nin it", True), ("=SUM(A1)", False)]),
    ("plain question", [("one", True), ("two", False), ("three", False), ("four", False)]),
]
# chosen answer positions per question; [] = unanswered (mask 0). Covers several
# answers per mask, a first chosen answer needing the formula quote (or not, when
# only a later one would), an empty first choice ("; x") and bit 3 set on a question
# with fewer answers (a position without an answer adds nothing).
CHOICES = [
    [[0, 1, 3], [], [0, 2], [0, 1], [0, 1, 2, 3]],
    [[2], [0, 1, 2], [1], [1], [1, 3]],
    [[], [1], [], [], []],
    [[1, 2, 3], [3], [0], [0], [2]],
    [[3], [1, 2], [0, 1, 2], [], [0, 3]],
]


async def _collect(body) -> bytes:  # type: ignore[no-untyped-def]
    async with contextlib.aclosing(body) as chunks:
        return b"".join([chunk async for chunk in chunks])


async def _both(maker, filters: ExportFilters) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    via_copy = await _collect(service._pg_csv(maker, filters))
    via_python = await _collect(service._csv(service._batches(maker, filters)))
    return via_copy, via_python


@pytest.mark.postgres_only
async def test_copy_bytes_equal_the_python_writer(clean_app: FastAPI, factory: Factory) -> None:
    owner = await factory.user(email="=owner@example.com")
    member = await factory.user(email='"odd, but valid"@example.com')
    other = await factory.user(email="-other@example.com")
    company = await factory.company(owner, members=[member, other])
    quiz = await factory.quiz(company, title='-Title, with "quotes"', questions=TRICKY)
    second = await factory.quiz(company, title="@second\r\ntitle", questions=TRICKY[3:])
    moments = [
        datetime(2026, 11, 2, 8, 0, 0, tzinfo=UTC),  # no microseconds
        datetime(2026, 11, 2, 8, 0, 0, 120, tzinfo=UTC),
        datetime(2026, 11, 3, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 4, 0, 0, 0, 500000, tzinfo=UTC),
    ]
    users = [member, owner, member, other, owner]
    for index, choices in enumerate(CHOICES):
        await factory.attempt(
            quiz, users[index], choices=choices, completed_at=moments[min(index, 3)]
        )
    # same moment as another attempt: ordered by attempt id
    await factory.attempt(second, other, choices=[[0, 1], []], completed_at=moments[1])
    await factory.attempt(second, member, choices=[[1], [0]], completed_at=moments[3])
    # a second version: its attempts show its own question texts
    await factory.new_version(quiz, [("+new version question", [("x", True), ("y", False)])])
    await factory.attempt(quiz, other, choices=[[0, 1]], completed_at=moments[2])

    maker = clean_app.state.read_sessionmaker
    for filters in (
        ExportFilters(DateRange(None, None), company_id=company.id),
        ExportFilters(DateRange(None, None), user_id=member.id, quiz_id=quiz.id),
        ExportFilters(DateRange(moments[1], moments[3]), company_id=company.id),
        ExportFilters(DateRange(None, None), company_id=company.id, quiz_id=second.id),
        ExportFilters(DateRange(None, moments[0]), company_id=company.id),  # none: header only
    ):
        via_copy, via_python = await _both(maker, filters)
        assert via_copy == via_python, filters
    everything, _ = await _both(maker, ExportFilters(DateRange(None, None), company_id=company.id))
    assert everything.count(b"\r\n") > sum(len(c) for c in CHOICES) + 3  # CRLF row ends
    assert b"'=1+1 formula" in everything and b"; +plus" in everything


@pytest.mark.postgres_only
async def test_copy_orders_by_position_not_by_id(clean_app: FastAPI, factory: Factory) -> None:
    """Question and answer ids need not follow their positions (both writers sort by
    position): reverse the positions of one version in place."""
    owner = await factory.user()
    company = await factory.company(owner)
    quiz = await factory.quiz(company, questions=TRICKY)
    version = await factory.version_of(quiz)
    ids = [question.id for question in version.questions]
    await factory.session.execute(
        text("UPDATE questions SET position = :last - position WHERE quiz_version_id = :id"),
        {"last": len(ids) - 1, "id": version.id},
    )
    await factory.session.execute(
        text("UPDATE answers SET position = 3 - position WHERE question_id = :id"), {"id": ids[4]}
    )
    await factory.session.commit()
    await factory.attempt(quiz, owner, choices=CHOICES[0], completed_at=datetime.now(UTC))

    maker = clean_app.state.read_sessionmaker
    filters = ExportFilters(DateRange(None, None), company_id=company.id)
    via_copy, via_python = await _both(maker, filters)
    assert via_copy == via_python
    rows = via_copy.split(b"\r\n")
    assert rows[1].split(b",")[7] == str(ids[-1]).encode()  # last created, position 0


def test_copy_statement_binds_only_the_filters() -> None:
    """The compiled text is cached per kind of filter: any other value bound into it
    would be frozen there (`_compiled_copy` refuses that)."""
    names = ("start", "end", "user_id", "company_id", "quiz_id")
    dialect = postgresql.asyncpg.dialect()
    for size in range(len(names) + 1):
        for chosen in itertools.combinations(names, size):
            sql, order = service._compiled_copy(dialect, frozenset(chosen))
            assert sorted(order) == sorted(chosen)
            assert sql.count("$") == size
    params = copy_params(ExportFilters(DateRange(None, None), user_id=3, quiz_id=4))
    assert params == {"user_id": 3, "quiz_id": 4}


# ----------------------------------------------------------------- binary framing


def _binary_copy(fields: list[bytes | None], extension: bytes = b"") -> bytes:
    rows = b"".join(
        struct.pack("!hi", 1, -1) if f is None else struct.pack("!hi", 1, len(f)) + f
        for f in fields
    )
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, len(extension)) + extension
    return header + rows + b"\xff\xff"


def test_copy_text_strips_the_framing_wherever_the_chunks_are_cut() -> None:
    fields: list[bytes | None] = [b"1,a\r\n2,b\r\n", b"", None, b'3,"\xff\xff",c\r\n', b"x"]
    expected = b"".join(f for f in fields if f)
    for extension in (b"", b"ext"):
        stream = _binary_copy(fields, extension)
        for cut in range(len(stream) + 1):
            for second in range(cut, len(stream) + 1, 3):
                convert = _CopyText()
                parts = (stream[:cut], stream[cut:second], stream[second:])
                assert b"".join(convert(memoryview(p)) for p in parts) == expected, (cut, second)
                assert convert.done


def test_copy_text_refuses_other_streams() -> None:
    with pytest.raises(ValueError, match="binary COPY"):
        _CopyText()(b"attempt_id,completed_at\r\n" * 2)
    two_fields = _binary_copy([b"x"]).replace(struct.pack("!hi", 1, 1), struct.pack("!hi", 2, 1))
    with pytest.raises(ValueError, match="one field"):
        _CopyText()(two_fields)
