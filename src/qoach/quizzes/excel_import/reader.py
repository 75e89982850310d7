"""The first sheet of an uploaded workbook as rows of cells, after the safety checks.

Synchronous and CPU-bound: call it from a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from typing import cast

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

from qoach.quizzes.excel_import.parser import Cell
from qoach.quizzes.excel_import.safety import ArchiveLimits, check_workbook, invalid_file


def _fill_merged_down(
    rows: list[list[Cell]],
    ranges: Sequence[tuple[tuple[int, int], tuple[int, int]]],
    *,
    budget: int,
) -> None:
    """Give the rows below a merged cell its value, in the range's first column.

    People merge a quiz's title (or description, or id) down over its rows; Excel
    stores the value in the top cell only. Horizontal spans are left alone, so a
    merged header never duplicates a column name. `budget` bounds the work.
    """
    filled = 0
    for (top, column), (bottom, _) in ranges:
        if top >= len(rows) or column >= len(rows[top]):
            continue
        value = rows[top][column]
        for index in range(top + 1, min(bottom, len(rows) - 1) + 1):
            row = rows[index]
            if column < len(row):
                row[column] = value
                filled += 1
        if filled > budget:
            raise invalid_file("The sheet has too many merged cells")


def read_first_sheet(content: bytes, limits: ArchiveLimits) -> list[list[Cell]]:
    """Every row of the first sheet from row 1 (empty cells are ""), or `Unprocessable`.

    Cells merged down take the value of the merged range's top cell.
    """
    check_workbook(content, limits)
    try:
        workbook = CalamineWorkbook.from_filelike(BytesIO(content))
        try:
            metadata = workbook.sheets_metadata
            if not metadata:
                raise invalid_file("The workbook has no sheets")
            if metadata[0].typ != SheetTypeEnum.WorkSheet:
                raise invalid_file("The first sheet of the workbook is not a worksheet")
            sheet = workbook.get_sheet_by_index(0)
            rows = cast("list[list[Cell]]", sheet.to_python(skip_empty_area=False))
            _fill_merged_down(rows, sheet.merged_cell_ranges or (), budget=limits.max_cells)
        finally:
            workbook.close()
    except CalamineError as exc:
        raise invalid_file(f"The .xlsx file could not be read ({type(exc).__name__})") from None
    except (ValueError, TypeError, OSError) as exc:
        raise invalid_file(f"The .xlsx file could not be read ({exc})") from None
    except BaseException as exc:
        # pyo3 turns a Rust panic into PanicException, a BaseException
        if type(exc).__name__ == "PanicException":
            raise invalid_file("The .xlsx file could not be read") from None
        raise
    return rows
