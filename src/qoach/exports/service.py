"""Streaming exports: database rows in batches → JSON / CSV / XLSX bytes out.

The byte stream runs after the request's own sessions are closed, so it opens
its own read session. On PostgreSQL `yield_per` makes a server-side cursor; on
SQLite the read session begins DEFERRED and never holds the write lock. Memory
stays at about one batch whatever the size of the export. XLSX is built in a
worker thread (xlsxwriter, constant-memory mode) into a temporary file that is
then streamed back and deleted. CSV on PostgreSQL skips the rows altogether:
PostgreSQL renders the CSV text and streams it through COPY (`_pg_csv`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import struct
import tempfile
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import anyio
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qoach.analytics.repository import AnyRow
from qoach.exports import writers
from qoach.exports.repository import (
    COPY_WORK_MEM,
    ExportFilters,
    copy_params,
    csv_copy_statement,
    export_statement,
)
from qoach.exports.writers import Record, XlsxExport, iso

logger = logging.getLogger("qoach.exports")

BATCH_SIZE = 2000
FILE_CHUNK = 256 * 1024
# COPY chunks (asyncpg hands over what one socket read brought, ≤ ~64 KiB) waiting
# for a slow client: the bound keeps memory flat, the COPY pauses when it is full
COPY_QUEUE_CHUNKS = 32
# for the COPY's transaction. JIT: the planner prices the query high enough to compile
# it, ~0.5 s before the first row, never repaid by a streaming read. Memoize (on by
# default) and work_mem: the per-question lines are computed once and cached, in room
# enough for the questions of a company (see COPY_WORK_MEM).
COPY_SETTINGS = (
    "SET LOCAL jit = off",
    "SET LOCAL enable_memoize = on",
    f"SET LOCAL work_mem = '{COPY_WORK_MEM}'",
)


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


MEDIA_TYPES = {
    ExportFormat.json: "application/json",
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class Export:
    """What the router needs to answer: the byte stream and its headers."""

    body: AsyncGenerator[bytes]
    media_type: str
    filename: str


def _records(rows: Sequence[AnyRow]) -> list[Record]:
    """Rows of `export_statement` as records (rows of one attempt share their timestamp)."""
    records = []
    last_moment: datetime | None = None
    completed_at = ""
    for row in rows:  # positional: ~2× faster than attribute access on a million rows
        (attempt, moment, user, email, company, quiz, title, question, text, *chosen, ok) = row
        if moment != last_moment:
            last_moment, completed_at = moment, iso(moment)
        selected = writers.SELECTED_SEPARATOR.join([t for t in chosen if t is not None])
        records.append(
            Record(
                attempt,
                completed_at,
                user,
                email,
                company,
                quiz,
                title,
                question,
                text,
                selected,
                bool(ok),
            )
        )
    return records


async def _batches(
    maker: async_sessionmaker[AsyncSession], filters: ExportFilters
) -> AsyncGenerator[list[Record]]:
    """The export's records, BATCH_SIZE at a time, from a session of its own."""
    async with maker() as session:
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            # the planner prices the per-row answer lookups high enough to JIT-compile
            # the plan: ~0.5 s before the first row, never repaid by a streaming read
            await connection.exec_driver_sql("SET LOCAL jit = off")
        result = await connection.stream(
            export_statement(filters).execution_options(yield_per=BATCH_SIZE)
        )
        try:
            async for partition in result.partitions():
                yield _records(partition)
        finally:
            await result.close()


async def _json(
    batches: AsyncGenerator[list[Record]], metadata: dict[str, Any]
) -> AsyncGenerator[bytes]:
    yield writers.json_head(metadata)
    first = True
    async for batch in batches:
        yield writers.json_rows(batch, first=first)
        first = False
    yield writers.JSON_TAIL


async def _csv(batches: AsyncGenerator[list[Record]]) -> AsyncGenerator[bytes]:
    yield writers.csv_header()
    async for batch in batches:
        yield writers.csv_rows(batch)


class _CopyText:
    """The field bytes of a one-column `COPY ... TO STDOUT (FORMAT binary)` stream.

    Binary COPY frames each row as int16 field count + int32 length + the bytes
    (text as is, in the client encoding, UTF-8 here), after a 19-byte header and
    before an int16 -1 trailer. Fed the stream in chunks cut anywhere, it returns
    the bytes of the fields in order, without the framing.
    """

    _HEADER = struct.Struct("!11sii")  # signature, flags, header extension length
    _ROW = struct.Struct("!hi")  # field count, field length
    _SIGNATURE = b"PGCOPY\n\xff\r\n\x00"

    def __init__(self) -> None:
        self._pending = b""  # an incomplete header or row frame
        self._field_left = 0  # bytes of the current field not returned yet
        self._skip = -1  # header bytes still to skip; -1 until the header is read
        self.done = False

    def __call__(self, chunk: bytes | bytearray | memoryview) -> bytes:
        data = self._pending + bytes(chunk) if self._pending else chunk
        self._pending = b""
        view = memoryview(data)
        end = len(view)
        pos = 0
        out: list[memoryview] = []
        if self._skip < 0:
            if end < self._HEADER.size:
                self._pending = bytes(view)
                return b""
            signature, _flags, extension = self._HEADER.unpack_from(view)
            if signature != self._SIGNATURE:
                raise ValueError("not a binary COPY stream")
            self._skip = self._HEADER.size + extension
        if self._skip:
            pos = min(self._skip, end)
            self._skip -= pos
        while pos < end and not self.done:
            if self._field_left:
                take = min(self._field_left, end - pos)
                out.append(view[pos : pos + take])
                self._field_left -= take
                pos += take
                continue
            if end - pos >= 2 and view[pos] == view[pos + 1] == 0xFF:
                self.done = True  # the trailer
                break
            if end - pos < self._ROW.size:
                self._pending = bytes(view[pos:])
                break
            fields, length = self._ROW.unpack_from(view, pos)
            if fields != 1:
                raise ValueError(f"expected one field per row, got {fields}")
            pos += self._ROW.size
            self._field_left = max(length, 0)  # -1: NULL, nothing to return
        return b"".join(out)


@functools.lru_cache(maxsize=64)
def _compiled_copy(dialect: Dialect, filters: frozenset[str]) -> tuple[str, tuple[str, ...]]:
    """`csv_copy_statement(filters)` as SQL text and its parameter names in order
    (compiling it takes tens of milliseconds: once per kind of filter, not per export)."""
    compiled = csv_copy_statement(filters).compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    if set(names) != filters:  # any other value would be frozen into the cached text
        raise RuntimeError(f"unexpected parameters {names} for the filters {sorted(filters)}")
    return str(compiled), names


async def _pg_csv(
    maker: async_sessionmaker[AsyncSession], filters: ExportFilters
) -> AsyncGenerator[bytes]:
    """CSV straight from PostgreSQL: `COPY (SELECT ...) TO STDOUT (FORMAT binary)`.

    `csv_copy_statement` renders each attempt's lines (CRLF included) in SQL, byte
    for byte as the Python writer does; the app only strips the binary framing
    (`_CopyText`) and passes the bytes on.
    """
    yield writers.csv_header()  # first byte at once, before the query's first row
    async with maker() as session:
        connection = await session.connection()
        for setting in COPY_SETTINGS:
            await connection.exec_driver_sql(setting)
        params = copy_params(filters)
        sql, names = _compiled_copy(connection.dialect, frozenset(params))
        args = [params[name] for name in names]
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None  # a checked-out asyncpg connection
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(COPY_QUEUE_CHUNKS)
        text = _CopyText()

        async def sink(data: bytes | bytearray | memoryview) -> None:
            if chunk := text(data):  # a copy: asyncpg reuses its buffer
                await queue.put(chunk)

        async def copy() -> None:
            try:
                await driver.copy_from_query(sql, *args, output=sink, format="binary")
            finally:
                await queue.put(None)

        task = asyncio.create_task(copy())
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
            await task  # a COPY that failed raises here
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


def _is_postgres(maker: async_sessionmaker[AsyncSession]) -> bool:
    bind = maker.kw.get("bind")
    return bind is not None and bind.dialect.name == "postgresql"


async def _xlsx(batches: AsyncGenerator[list[Record]]) -> AsyncGenerator[bytes]:
    fd, path = tempfile.mkstemp(prefix="qoach-export-", suffix=".xlsx")
    os.close(fd)
    try:
        book = await anyio.to_thread.run_sync(XlsxExport, path)
        async for batch in batches:
            await anyio.to_thread.run_sync(book.write, batch)
        await anyio.to_thread.run_sync(book.close)
        async with await anyio.open_file(path, "rb") as file:
            while chunk := await file.read(FILE_CHUNK):
                yield chunk
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


async def _stream(
    maker: async_sessionmaker[AsyncSession],
    filters: ExportFilters,
    export_format: ExportFormat,
    metadata: dict[str, Any],
) -> AsyncGenerator[bytes]:
    if export_format is ExportFormat.csv and _is_postgres(maker):
        async with contextlib.aclosing(_pg_csv(maker, filters)) as body:
            try:
                async for chunk in body:
                    yield chunk
            except Exception:
                logger.exception("export failed while streaming")
                raise
        return
    async with contextlib.aclosing(_batches(maker, filters)) as batches:
        if export_format is ExportFormat.json:
            body = _json(batches, metadata)
        elif export_format is ExportFormat.csv:
            body = _csv(batches)
        else:
            body = _xlsx(batches)
        async with contextlib.aclosing(body):
            try:
                async for chunk in body:
                    yield chunk
            except Exception:
                # the status line is gone already: all we can do is cut the body short
                logger.exception("export failed while streaming")
                raise


def start_export(
    maker: async_sessionmaker[AsyncSession],
    filters: ExportFilters,
    export_format: ExportFormat,
    *,
    scope: str,
    now: datetime,
) -> Export:
    """The export of `filters` as a lazy byte stream (nothing runs until it is iterated)."""
    metadata = {
        "user_id": filters.user_id,
        "company_id": filters.company_id,
        "quiz_id": filters.quiz_id,
        "from": filters.dates.raw_from,
        "to": filters.dates.raw_to,
        "exported_at": iso(now),
    }
    return Export(
        body=_stream(maker, filters, export_format, metadata),
        media_type=MEDIA_TYPES[export_format],
        filename=f"qoach-export-{scope}-{now.date().isoformat()}.{export_format.value}",
    )
