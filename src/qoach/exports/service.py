"""Streaming exports: database rows in batches → JSON / CSV / XLSX bytes out.

The byte stream runs after the request's own sessions are closed, so it opens
its own read session. On PostgreSQL `yield_per` makes a server-side cursor; on
SQLite the read session begins DEFERRED and never holds the write lock. Memory
stays at about one batch whatever the size of the export. XLSX is built in a
worker thread (xlsxwriter, constant-memory mode) into a temporary file that is
then streamed back and deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qoach.analytics.repository import AnyRow
from qoach.exports import writers
from qoach.exports.repository import ExportFilters, csv_copy_statement, export_statement
from qoach.exports.writers import Record, XlsxExport, iso

logger = logging.getLogger("qoach.exports")

BATCH_SIZE = 2000
FILE_CHUNK = 256 * 1024
# COPY chunks (asyncpg hands over what one socket read brought, ≤ ~64 KiB) waiting
# for a slow client: the bound keeps memory flat, the COPY pauses when it is full
COPY_QUEUE_CHUNKS = 32


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


class _CrLf:
    """COPY ends rows with LF; RFC 4180 (and the Python writer) with CRLF.

    A LF outside a quoted cell ends a row; one inside stays as it is. A `"` always
    toggles quoting (an escaped `""` toggles twice), so the parity of the quotes
    seen so far says where each chunk starts.
    """

    def __init__(self) -> None:
        self.quoted = False

    def __call__(self, chunk: bytes) -> bytes:
        if b'"' not in chunk:
            return chunk if self.quoted else chunk.replace(b"\n", b"\r\n")
        parts = chunk.split(b'"')
        for index in range(1 if self.quoted else 0, len(parts), 2):
            parts[index] = parts[index].replace(b"\n", b"\r\n")
        if len(parts) % 2 == 0:  # an odd number of quotes in the chunk
            self.quoted = not self.quoted
        return b'"'.join(parts)


async def _pg_csv(
    maker: async_sessionmaker[AsyncSession], filters: ExportFilters
) -> AsyncGenerator[bytes]:
    """CSV straight from PostgreSQL: `COPY (SELECT ...) TO STDOUT WITH (FORMAT csv)`.

    Every cell is computed in SQL (`csv_copy_statement`) so the bytes match the
    Python writer's; the app only passes chunks on, changing LF row ends to CRLF.
    """
    yield writers.csv_header()  # first byte at once, before the query's first row
    async with maker() as session:
        connection = await session.connection()
        await connection.exec_driver_sql("SET LOCAL jit = off")
        compiled = csv_copy_statement(filters).compile(dialect=connection.dialect)
        params = compiled.construct_params()
        args = [params[name] for name in compiled.positiontup or ()]
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None  # a checked-out asyncpg connection
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(COPY_QUEUE_CHUNKS)

        async def sink(data: bytes | bytearray | memoryview) -> None:
            await queue.put(bytes(data))  # asyncpg reuses its buffer

        async def copy() -> None:
            try:
                await driver.copy_from_query(str(compiled), *args, output=sink, format="csv")
            finally:
                await queue.put(None)

        task = asyncio.create_task(copy())
        try:
            to_crlf = _CrLf()
            while (chunk := await queue.get()) is not None:
                yield to_crlf(chunk)
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
