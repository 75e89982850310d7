"""Checks an uploaded .xlsx must pass before any spreadsheet library reads it.

An .xlsx is a zip of XML parts. Before python-calamine opens it we

1. refuse what is not a zip: an OLE2 compound file (`D0 CF 11 E0`) is either an
   encrypted .xlsx or a legacy .xls, anything else is not an .xlsx at all;
2. read the central directory and refuse too many entries, a declared total
   uncompressed size over the limit, and big entries with a suspicious ratio;
3. inflate every entry ourselves from its raw bytes, in bounded chunks, and check
   that it really inflates to its declared size and CRC (a zip whose entries
   lie about their size is a classic bomb: the declared-size checks alone would
   pass it, and the Rust reader would inflate all of it);
4. while inflating, refuse XML that is not UTF-8 (UTF-16/32 would hide the next
   two checks) and any `<!DOCTYPE` / `<!ENTITY` (entity expansion, external
   entities);
5. track the extent of the cells each sheet part declares (`<row r>` / `<c r>`
   and implicit positions): calamine allocates a dense rows × columns grid for the
   sheet, so one cell at `XFD1048576` in a 7 KiB file would make the process
   allocate half a terabyte and abort. We refuse sheets with more rows than the
   import reads or a grid larger than it needs.

Everything here is synchronous and CPU-bound: call it from a worker thread.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from io import BytesIO

from qoach.errors import Unprocessable

OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_SIGNATURE = b"PK\x03\x04"
LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # 30 bytes
CHUNK_BYTES = 64 * 1024
# Entries smaller than this may compress as well as they like (they cannot hurt).
RATIO_CHECK_MIN_BYTES = 1024 * 1024
MAX_COMPRESSION_RATIO = 100
# How wide a sheet may be: the layout has 14 columns, room is left for notes.
MAX_COLUMNS = 64

_UTF16_32_STARTS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"<\x00", b"\x00<")
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# A start tag of a row or a cell, attributes quote-aware ('>' may appear in values).
# Writers put `r` first: it is captured directly (groups 2, 3); otherwise group 4
# holds all the attributes and `_r_attribute` looks for it. calamine matches local
# names only, so `<x:c>` is a cell too: parts that may hold prefixed tags are
# scanned with the (slower) prefix-aware pair.
_ATTRS = rb"((?:\s+[^\s=/>\"']+\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*)\s*/?>"
_R_FIRST = rb"(?:\s+r=\"([A-Z]{0,3})(\d{1,7})\")?"
_PREFIX = rb"(?:[A-Za-z_][\w.\-]*:)"
_TAG = re.compile(rb"<(row|c)" + _R_FIRST + _ATTRS)
_TAG_NS = re.compile(rb"<" + _PREFIX + rb"?(row|c)" + _R_FIRST + _ATTRS)
# Every place such a tag starts; a start without a full match above is malformed.
_TAG_START = re.compile(rb"<(?:row|c)[\s/>]")
_TAG_START_NS = re.compile(rb"<" + _PREFIX + rb"?(?:row|c)[\s/>]")
_MAYBE_PREFIXED = re.compile(rb":(?:row|c)[\s/>]")
_ATTR = re.compile(rb"([^\s=]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_CELL_REF = re.compile(rb"([A-Za-z]{1,3})?(\d{1,7})?")
_ROW_REF = re.compile(rb"(\d{1,7})")


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_entries: int
    max_uncompressed_bytes: int
    max_rows: int
    max_columns: int = MAX_COLUMNS
    max_ratio: int = MAX_COMPRESSION_RATIO

    @property
    def max_cells(self) -> int:
        """The largest dense grid a sheet may span (header included)."""
        return (self.max_rows + 1) * self.max_columns


def invalid_file(message: str) -> Unprocessable:
    return Unprocessable(message, code="invalid_file")


def too_many_rows(max_rows: int) -> Unprocessable:
    message = f"The sheet has more than {max_rows} rows below the header; split the file"
    return Unprocessable(
        message,
        code="import_invalid",
        extra={"errors": [{"row": max_rows + 2, "column": None, "message": message}]},
    )


def check_workbook(content: bytes, limits: ArchiveLimits) -> None:
    """Raise `Unprocessable` unless `content` is a plain, bounded .xlsx archive."""
    if not content:
        raise invalid_file("The file is empty")
    if content.startswith(OLE2_SIGNATURE):
        if "EncryptedPackage".encode("utf-16-le") in content:
            raise invalid_file(
                "The workbook is password-protected (encrypted); "
                "save it again without a password and upload it"
            )
        raise invalid_file(
            "This is a legacy .xls (or other OLE2) file, not an .xlsx; "
            "save it as an Excel Workbook (.xlsx)"
        )
    if not content.startswith(ZIP_SIGNATURE):
        raise invalid_file("The file is not an .xlsx workbook")
    try:
        archive = zipfile.ZipFile(BytesIO(content))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise invalid_file(f"The .xlsx file is corrupt ({exc})") from None
    _check_directory(infos, limits)
    for info in infos:
        _check_entry(content, info, limits)


def _check_directory(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    if len(infos) > limits.max_entries:
        raise invalid_file(
            f"The archive has {len(infos)} entries; an .xlsx to import may have at most "
            f"{limits.max_entries}"
        )
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise invalid_file("The .xlsx file is corrupt (an archive entry appears twice)")
    if "xl/workbook.xml" not in names:
        if "xl/workbook.bin" in names:
            raise invalid_file("Binary workbooks (.xlsb) are not supported; save as .xlsx")
        raise invalid_file("The file is a zip archive but not an .xlsx workbook")
    if "xl/workbook.bin" in names or "content.xml" in names:
        raise invalid_file("The file mixes several spreadsheet formats; save it as .xlsx")
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_uncompressed_bytes:
        raise invalid_file(
            f"The workbook unpacks to {declared} bytes, more than the "
            f"{limits.max_uncompressed_bytes} bytes an import may have"
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise invalid_file(
                "The workbook is password-protected (encrypted entries); "
                "save it again without a password"
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise invalid_file(
                f"The .xlsx uses an unsupported compression method ({info.compress_type})"
            )
        if info.file_size > RATIO_CHECK_MIN_BYTES and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise invalid_file(
                f"The archive entry {info.filename!r} is compressed more than "
                f"{limits.max_ratio}:1, which real workbooks are not; refusing a possible zip bomb"
            )


def _raw_bytes(content: bytes, info: zipfile.ZipInfo) -> memoryview:
    """The entry's compressed bytes, located from its local header."""
    offset = info.header_offset
    header = content[offset : offset + LOCAL_HEADER.size]
    if len(header) != LOCAL_HEADER.size:
        raise invalid_file("The .xlsx file is corrupt (truncated entry)")
    fields = LOCAL_HEADER.unpack(header)
    if fields[0] != ZIP_SIGNATURE:
        raise invalid_file("The .xlsx file is corrupt (bad entry header)")
    name_length, extra_length = fields[-2], fields[-1]
    start = offset + LOCAL_HEADER.size + name_length + extra_length
    end = start + info.compress_size
    if end > len(content):
        raise invalid_file("The .xlsx file is corrupt (truncated entry)")
    return memoryview(content)[start:end]


def _check_entry(content: bytes, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    raw = _raw_bytes(content, info)
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    scanner = _PartScanner(info.filename, limits)
    size = 0
    crc = 0
    budget = info.file_size
    for start in range(0, len(raw) or 1, CHUNK_BYTES):
        chunk = raw[start : start + CHUNK_BYTES]
        pending = bytes(chunk)
        while True:
            if inflater is None:
                out, pending = pending, b""
            else:
                try:
                    # at most one byte past the declared size: enough to catch a liar
                    out = inflater.decompress(pending, min(CHUNK_BYTES, budget - size + 1))
                except zlib.error:
                    raise invalid_file(
                        f"The .xlsx file is corrupt (entry {info.filename!r})"
                    ) from None
                pending = inflater.unconsumed_tail
            size += len(out)
            if size > info.file_size:
                raise invalid_file(
                    f"The archive entry {info.filename!r} inflates to more than its declared "
                    "size; refusing a possible zip bomb"
                )
            if out:
                crc = zlib.crc32(out, crc)
                scanner.feed(out)
            if not pending:
                break
    if inflater is not None:
        tail = inflater.flush()
        if tail:
            size += len(tail)
            crc = zlib.crc32(tail, crc)
            scanner.feed(tail)
        if not inflater.eof or inflater.unused_data:
            if size > info.file_size:
                raise invalid_file(
                    f"The archive entry {info.filename!r} inflates to more than its declared "
                    "size; refusing a possible zip bomb"
                )
            raise invalid_file(f"The .xlsx file is corrupt (entry {info.filename!r})")
    if size != info.file_size or crc != info.CRC:
        raise invalid_file(f"The .xlsx file is corrupt (entry {info.filename!r} fails its check)")
    scanner.finish()


class _PartScanner:
    """Looks at one entry's inflated bytes as they stream by."""

    __slots__ = (
        "_buffer",
        "_checked_start",
        "_col",
        "_limits",
        "_name",
        "_row",
        "max_col",
        "max_row",
    )

    def __init__(self, name: str, limits: ArchiveLimits) -> None:
        self._name = name
        self._limits = limits
        self._buffer = bytearray()
        self._checked_start = False
        self._row = -1
        self._col = -1
        self.max_row = -1
        self.max_col = -1

    def feed(self, data: bytes) -> None:
        if not self._checked_start:
            self._buffer += data
            if len(self._buffer) < 4:
                return
            self._check_start(bytes(self._buffer[:4]))
            data = bytes(self._buffer)
            self._buffer.clear()
        known = len(self._buffer)
        self._buffer += data
        # Markup never contains '<' except at its start: everything before the last
        # '<' is complete, the rest waits for more bytes. Search only the new bytes.
        cut = self._buffer.rfind(b"<", known)
        if cut <= 0:
            return
        segment = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        self._scan(segment)

    def finish(self) -> None:
        if not self._checked_start:
            self._check_start(bytes(self._buffer))
        if self._buffer:
            self._scan(bytes(self._buffer))
            self._buffer.clear()

    def _check_start(self, head: bytes) -> None:
        self._checked_start = True
        if head.startswith(_UTF16_32_STARTS):
            raise invalid_file(
                f"The XML part {self._name!r} is not UTF-8; this importer reads UTF-8 only"
            )

    def _scan(self, segment: bytes) -> None:
        if _DTD.search(segment):
            raise invalid_file(
                f"The XML part {self._name!r} has a DOCTYPE or ENTITY declaration; "
                "refusing it (entity expansion / external entities)"
            )
        if _MAYBE_PREFIXED.search(segment):
            start_pattern, tag_pattern = _TAG_START_NS, _TAG_NS
        else:
            start_pattern, tag_pattern = _TAG_START, _TAG
        starts = len(start_pattern.findall(segment))
        if not starts:
            return
        tags = tag_pattern.findall(segment)
        if len(tags) != starts:
            raise self._malformed()
        row, col, max_row, max_col = self._row, self._col, self.max_row, self.max_col
        columns = _COLUMNS
        for name, letters, digits, rest in tags:
            if rest and b"r" in rest:
                other = _r_attribute(rest)
                if other is not None:
                    if digits or letters:
                        raise self._malformed()  # two `r` attributes
                    letters, digits = _split_ref(other, self, row=name == b"row")
            if name == b"row":
                row = int(digits) - 1 if digits else row + 1
                col = -1
                continue
            if letters:
                index = columns.get(letters)
                col = index if index is not None else _column_index(letters)
            else:
                col += 1
            cell_row = int(digits) - 1 if digits else (row if row >= 0 else 0)
            if cell_row > max_row:
                max_row = cell_row
            if col > max_col:
                max_col = col
        self._row, self._col, self.max_row, self.max_col = row, col, max_row, max_col
        self._check_extent()

    def _check_extent(self) -> None:
        rows, cols = self.max_row + 1, self.max_col + 1
        if rows > self._limits.max_rows + 1:
            raise too_many_rows(self._limits.max_rows)
        if rows * cols > self._limits.max_cells or cols > 16_384:
            raise invalid_file(
                f"A sheet spans {rows} rows × {cols} columns; an import reads at most "
                f"{self._limits.max_columns} columns (clear the cells far to the right)"
            )

    def _malformed(self) -> Unprocessable:
        return invalid_file(f"The .xlsx file is corrupt (malformed cell markup in {self._name!r})")


def _r_attribute(attrs: bytes) -> bytes | None:
    found: bytes | None = None
    for name, double, single in _ATTR.findall(attrs):
        if name == b"r":
            value = double or single
            if found is not None and value != found:
                raise invalid_file("The .xlsx file is corrupt (a cell has two positions)")
            found = value
    return found


def _split_ref(ref: bytes, scanner: _PartScanner, *, row: bool) -> tuple[bytes, bytes]:
    """(column letters, row digits) of an `r` value found the slow way."""
    if row:
        if _ROW_REF.fullmatch(ref) is None:
            raise scanner._malformed()
        return b"", ref
    match = _CELL_REF.fullmatch(ref)
    if match is None or not ref:
        raise scanner._malformed()
    return match.group(1) or b"", match.group(2) or b""


def _column_index(letters: bytes) -> int:
    index = 0
    for byte in letters.upper():
        index = index * 26 + (byte - 64)
    return index - 1


# Column letters of a sensible sheet (A … ZZ), looked up rather than computed.
_COLUMNS: dict[bytes, int] = {}
for _first in ["", *(chr(c) for c in range(65, 91))]:
    for _second in (chr(c) for c in range(65, 91)):
        _letters = (_first + _second).encode()
        _COLUMNS[_letters] = _column_index(_letters)
